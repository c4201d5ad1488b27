"""Synthetic scene generator for the tracker tests (plus checks of the generator).

A scene is a 6 m x 6 m floor with an entry gate ``IN`` at the bottom left,
an exit gate ``OUT`` at the bottom right and a ``both`` gate ``B`` at the top.
People walk piecewise-linear paths (waypoints ``(t, x, y)``), appear at their
first waypoint and vanish after the last. Cameras see everyone with their own
rate, phase and clock offset, with noise, misses (more in crowds), duplicates
and false detections. Each person carries a hand whose ``holding`` names the
person, so tests can check which track hands end up on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fusion.types import Gate, GateTap, Hand, PersonDetection, Store, VisionFrame


def make_store() -> Store:
    """The test store: gates IN (entry), OUT (exit), B (both)."""
    def box(x0, y0, x1, y1):
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)
    gates = (Gate("IN", box(0.0, 0.0, 1.0, 0.8), "entry"),
             Gate("OUT", box(5.0, 0.0, 6.0, 0.8), "exit"),
             Gate("B", box(2.5, 5.2, 3.5, 6.0), "both"))
    return Store(name="test", skus={}, cells=(), gates=gates)


@dataclass
class Person:
    """A walker: waypoints (W, 3) rows ``(t, x, y)``; optional detection gaps;
    ``seen_by``: the only cameras that see this person (``None``: all)."""

    name: str
    waypoints: np.ndarray
    gaps: list[tuple[float, float]] = field(default_factory=list)
    seen_by: tuple[str, ...] | None = None

    @property
    def t0(self) -> float:
        return float(self.waypoints[0, 0])

    @property
    def t1(self) -> float:
        return float(self.waypoints[-1, 0])

    def xy(self, t: float) -> np.ndarray:
        w = self.waypoints
        return np.array([np.interp(t, w[:, 0], w[:, 1]), np.interp(t, w[:, 0], w[:, 2])])

    def visible(self, t: float) -> bool:
        return self.t0 <= t <= self.t1 and not any(a <= t <= b for a, b in self.gaps)


def walker(name: str, *points: tuple[float, float, float], gaps=(),
           seen_by: tuple[str, ...] | None = None) -> Person:
    """A :class:`Person` from ``(t, x, y)`` waypoints."""
    return Person(name, np.array(points, float), list(gaps), seen_by)


@dataclass
class Camera:
    """A camera: rate (Hz), phase (s), clock offset (s)."""

    id: str
    rate_hz: float = 15.0
    phase_s: float = 0.0
    offset_s: float = 0.0


@dataclass
class Scene:
    """People, taps and camera/detector imperfections."""

    people: list[Person]
    taps: list[GateTap] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=lambda: [
        Camera("C1", 15.0, 0.0, 0.0), Camera("C2", 12.0, 0.013, 0.02),
        Camera("C3", 10.0, 0.041, -0.015)])
    noise_m: float = 0.08
    p_miss: float = 0.1
    p_miss_crowd: float = 0.1  # extra miss probability per neighbour within 1 m
    p_dup: float = 0.03
    false_per_frame: float = 0.05
    hands: bool = True
    seed: int = 0
    blind: list[tuple[str, float, float]] = field(default_factory=list)  # (camera, t0, t1)

    def frames(self) -> list[VisionFrame]:
        """All camera frames, ordered by time."""
        rng = np.random.default_rng(self.seed)
        t_end = max(p.t1 for p in self.people) + 3.0
        out = []
        for cam in self.cameras:
            for t in np.arange(cam.phase_s, t_end, 1.0 / cam.rate_hz):
                out.append(self._frame(float(t), cam, rng))
        out.sort(key=lambda f: f.t)
        return out

    def _frame(self, t: float, cam: Camera, rng: np.random.Generator) -> VisionFrame:
        t_true = t + cam.offset_s
        if any(c == cam.id and a <= t <= b for c, a, b in self.blind):
            return VisionFrame(t=t, camera=cam.id, people=())
        present = [p for p in self.people if p.t0 <= t_true <= p.t1]
        pos = {p.name: p.xy(t_true) for p in present}
        dets = []
        for p in present:
            if not p.visible(t_true) or (p.seen_by is not None and cam.id not in p.seen_by):
                continue
            crowd = sum(np.hypot(*(pos[p.name] - pos[q.name])) < 1.0
                        for q in present if q is not p)
            if rng.random() < self.p_miss + self.p_miss_crowd * crowd:
                continue
            dets.append(self._det(pos[p.name], p.name, rng))
            if rng.random() < self.p_dup:
                dets.append(self._det(pos[p.name], p.name, rng))
        for _ in range(rng.poisson(self.false_per_frame)):
            dets.append(PersonDetection(xy=rng.uniform(0, 6, 2), conf=float(rng.uniform(0.3, 0.7))))
        rng.shuffle(dets)
        return VisionFrame(t=t, camera=cam.id, people=tuple(dets))

    def _det(self, xy: np.ndarray, name: str, rng: np.random.Generator) -> PersonDetection:
        z = xy + rng.normal(0, self.noise_m, 2)
        hands = ()
        if self.hands:
            hands = (Hand(p=np.array([xy[0] + 0.3, xy[1], 1.0]), holding={f"sku-{name}": 0.9}),)
        return PersonDetection(xy=z, conf=float(rng.uniform(0.6, 0.99)), hands=hands)

    def stream(self) -> list[tuple[float, object]]:
        """Taps and frames merged in time order (taps first on ties)."""
        items = [(tap.t, 0, tap) for tap in self.taps]
        items += [(f.t, 1, f) for f in self.frames()]
        items.sort(key=lambda x: (x[0], x[1]))
        return [(t, obj) for t, _, obj in items]


def run(tracker, scene: Scene, until: float | None = None, on_step=None) -> None:
    """Feed a scene's stream to ``tracker`` (optionally up to time ``until``)."""
    for t, obj in scene.stream():
        if until is not None and t > until:
            break
        if isinstance(obj, GateTap):
            tracker.tap(obj)
        else:
            tracker.update(obj)
        if on_step is not None:
            on_step(t)


def track_of(tracker, person: Person, t0: float, t1: float):
    """The :class:`TrackWindow` closest to ``person`` on average over [t0, t1]."""
    best, best_d = None, np.inf
    for w in tracker.window(t0, t1):
        if len(w.t) < 3:
            continue
        truth = np.array([person.xy(t) for t in w.t])
        d = float(np.median(np.hypot(*(w.xy - truth).T)))
        if d < best_d:
            best, best_d = w, d
    return best if best_d < 0.5 else None


# ----------------------------------------------------------- generator checks


def test_frames_are_time_ordered_and_cover_all_cameras():
    scene = Scene([walker("a", (0, 0.5, 0.4), (5, 3, 3))])
    frames = scene.frames()
    ts = [f.t for f in frames]
    assert ts == sorted(ts)
    assert {f.camera for f in frames} == {"C1", "C2", "C3"}


def test_gaps_hide_a_person():
    scene = Scene([walker("a", (0, 1, 1), (4, 4, 4), gaps=[(1.0, 2.0)])],
                  p_miss=0, p_miss_crowd=0, p_dup=0, false_per_frame=0)
    for f in scene.frames():
        if 1.05 < f.t < 1.95:
            assert f.people == ()
        elif 0.1 < f.t < 0.9:
            assert len(f.people) == 1

"""Overhead-camera detections of the planned people, generated block by block.

Each camera has its own frame rate and phase, a constant clock offset (its
frames are stamped ``offset`` later than the moment they show) and a constant
floor-position bias. It sees a rectangle of the floor; the rectangles
overlap, so one person is usually reported by two or three cameras. Misses
get likelier with every person standing close by (occlusion); there are
false and duplicate detections; hands are reported while reaching (noisy,
sometimes missing) and sometimes at rest; a hand carrying an item sometimes
gets a product guess, occasionally wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion.sim.behaviour import Person
from fusion.sim.layout import Layout
from fusion.sim.scenario import VisionSpec
from fusion.types import Hand, PersonDetection, VisionFrame, frozen_map, readonly

_REST_Z_M = 0.95  #: wrist height of a hanging arm (m)
_CARRY_AFTER_S = 1.0  #: a taken item stays visible in the hand this long after the reach (s)


@dataclass(frozen=True, slots=True)
class _Camera:
    id: str
    hz: float
    phase_s: float
    offset_s: float
    bias_xy: np.ndarray
    noise_m: float
    hand_noise_m: float
    rect: np.ndarray


@dataclass(slots=True)
class _HandTrack:
    """The reaches of one hand as arrays (k,) / (k, 3), sorted by t_out."""

    t_out: np.ndarray
    t_c0: np.ndarray
    t_c1: np.ndarray
    t_back: np.ndarray
    target: np.ndarray
    after: list[str | None]
    before: list[str | None]


def _hand_tracks(p: Person) -> list[_HandTrack]:
    tracks = []
    for h in (0, 1):
        rs = sorted((r for r in p.reaches if r.hand == h), key=lambda r: r.t_out)
        tracks.append(_HandTrack(
            np.array([r.t_out for r in rs]), np.array([r.t_c0 for r in rs]),
            np.array([r.t_c1 for r in rs]), np.array([r.t_back for r in rs]),
            np.array([r.target for r in rs]).reshape(-1, 3),
            [r.carry_after for r in rs], [r.carry_before for r in rs]))
    return tracks


def _hand_state(tr: _HandTrack, tt: np.ndarray, body: np.ndarray, side: float):
    """Hand position (F, 3), reaching mask (F,) and carried SKU per frame."""
    rest = np.column_stack([body[:, 0] + side, body[:, 1], np.full(len(tt), _REST_Z_M)])
    carry: list[str | None] = [None] * len(tt)
    if tr.t_out.size == 0:
        return rest, np.zeros(len(tt), bool), carry
    k = np.searchsorted(tr.t_out, tt, side="right") - 1
    kk = np.maximum(k, 0)
    t_out, c0, c1, back = tr.t_out[kk], tr.t_c0[kk], tr.t_c1[kk], tr.t_back[kk]
    reaching = (k >= 0) & (tt < back)
    up = np.clip((tt - t_out) / np.maximum(c0 - t_out, 1e-3), 0, 1)
    down = np.clip((back - tt) / np.maximum(back - c1, 1e-3), 0, 1)
    w = np.where(reaching, np.minimum(up, down), 0.0)[:, None]
    pos = rest + w * (tr.target[kk] - rest)
    for f in np.flatnonzero((k >= 0) & (tt < back + _CARRY_AFTER_S)):
        if tt[f] > c1[f] and tr.after[kk[f]]:
            carry[f] = tr.after[kk[f]]
        elif tt[f] < c0[f] and tr.before[kk[f]]:
            carry[f] = tr.before[kk[f]]
    return pos, reaching, carry


class VisionBlocks:
    """Generates the camera frames of any time block of a planned run."""

    def __init__(self, spec: VisionSpec, layout: Layout, people: list[Person], seed: int):
        self.spec = spec
        self.people = people
        self.tracks = [_hand_tracks(p) for p in people]
        self.skus = sorted(layout.store.skus)
        self.floor = layout.floor
        self.seed = seed
        rng = np.random.default_rng([seed, 2])
        self.cameras = []
        for cam, rect in zip(layout.store.cameras, layout.camera_rects, strict=True):
            hz = float(rng.uniform(*spec.hz))
            self.cameras.append(_Camera(
                cam.id, hz, float(rng.uniform(0, 1 / hz)),
                float(rng.normal(0, spec.clock_offset_s)) + spec.clock_offset_mean_s,
                rng.normal(0, spec.bias_m, 2), float(rng.uniform(*spec.pos_noise_m)),
                float(rng.uniform(*spec.hand_noise_m)), rect))
        self.track_ids = self._track_ids(seed) if spec.track_hints else None

    def _track_ids(self, seed: int) -> dict[str, list[tuple[np.ndarray, list[str]]]]:
        """Per camera, per person: break times (s) and the track id of each
        segment; ids are numbered per camera in order of first appearance.
        With ``track_switch_p``, two people passing close exchange their ids
        from that moment (the camera's tracker followed the wrong one)."""
        rng = np.random.default_rng([seed, 4])
        meetings = self._close_passes() if self.spec.track_switch_p > 0 else []
        out = {}
        for cam in self.cameras:
            breaks_of, segs = [], []
            for i, p in enumerate(self.people):
                n = rng.poisson(self.spec.track_break_per_s * (p.t_end - p.t_start))
                breaks = np.sort(rng.uniform(p.t_start, p.t_end, n))
                breaks_of.append(breaks)
                segs.extend((float(t), i) for t in [p.t_start, *breaks])
            ids: list[list[str]] = [[] for _ in self.people]
            for n_id, (_, i) in enumerate(sorted(segs)):
                ids[i].append(f"{cam.id}-{n_id + 1}")
            tracks = [[(float(t), h) for t, h in zip([p.t_start, *b], hs, strict=True)]
                      for p, b, hs in zip(self.people, breaks_of, ids, strict=True)]
            for t, i, j in meetings:
                if rng.random() < self.spec.track_switch_p:
                    tracks[i], tracks[j] = _exchange_after(tracks[i], tracks[j], t)
            out[cam.id] = [(np.array([t for t, _ in tr[1:]]), [h for _, h in tr]) for tr in tracks]
        return out

    def _close_passes(self, step_s: float = 0.1) -> list[tuple[float, int, int]]:
        """(t, i, j), in time order: each time two people come within
        ``track_switch_m`` of each other (the moment they get that close)."""
        r = self.spec.track_switch_m
        out = []
        for i, a in enumerate(self.people):
            for j in range(i + 1, len(self.people)):
                b = self.people[j]
                t0, t1 = max(a.t_start, b.t_start), min(a.t_end, b.t_end)
                if t1 - t0 < step_s:
                    continue
                tt = np.arange(t0, t1, step_s)
                d = np.hypot(np.interp(tt, a.path[:, 0], a.path[:, 1]) - np.interp(tt, b.path[:, 0], b.path[:, 1]),
                             np.interp(tt, a.path[:, 0], a.path[:, 2]) - np.interp(tt, b.path[:, 0], b.path[:, 2]))
                close = d < r
                starts = np.flatnonzero(close & ~np.r_[False, close[:-1]])
                out += [(float(tt[k]), i, j) for k in starts]
        return sorted(out)

    def block(self, k: int, t0_s: float, t1_s: float) -> list[VisionFrame]:
        """All frames stamped in [t0_s, t1_s), in time order (block index ``k``
        selects the random stream, so blocks are independent and repeatable)."""
        rng = np.random.default_rng([self.seed, 3, k])
        active = [i for i, p in enumerate(self.people)
                  if p.t_start < t1_s + 0.5 and p.t_end > t0_s - 0.5]
        frames: list[VisionFrame] = []
        for cam in self.cameras:
            n0 = int(np.ceil((t0_s - cam.phase_s) * cam.hz))
            n1 = int(np.ceil((t1_s - cam.phase_s) * cam.hz))
            stamps = cam.phase_s + np.arange(n0, n1) / cam.hz
            stamps = stamps[(stamps >= max(t0_s, 0.0)) & (stamps < t1_s)]
            frames.extend(self._camera_frames(cam, stamps, active, rng))
        frames.sort(key=lambda f: (f.t, f.camera))
        return frames

    def _positions(self, active: list[int], tt: np.ndarray):
        """(P, F, 2) true floor positions and (P, F) presence."""
        pos = np.zeros((len(active), len(tt), 2))
        present = np.zeros((len(active), len(tt)), bool)
        for j, i in enumerate(active):
            path = self.people[i].path
            pos[j, :, 0] = np.interp(tt, path[:, 0], path[:, 1])
            pos[j, :, 1] = np.interp(tt, path[:, 0], path[:, 2])
            present[j] = (tt >= path[0, 0]) & (tt <= path[-1, 0])
        return pos, present

    def _camera_frames(self, cam: _Camera, stamps: np.ndarray, active: list[int],
                       rng: np.random.Generator) -> list[VisionFrame]:
        s = self.spec
        tt = stamps - cam.offset_s  # when the picture was really taken
        pos, present = self._positions(active, tt)
        x0, y0, x1, y1 = cam.rect
        seen = present & (pos[..., 0] >= x0) & (pos[..., 0] <= x1) \
            & (pos[..., 1] >= y0) & (pos[..., 1] <= y1)
        d = np.linalg.norm(pos[:, None] - pos[None, :], axis=-1)  # (P, P, F)
        near = ((d < s.occlusion_radius_m) & present[None] & present[:, None]).sum(axis=1) - 1
        near = np.maximum(near, 0)
        miss = np.minimum(0.9, s.miss_p + s.occlusion_miss_p * near)
        det = seen & (rng.random(seen.shape) >= miss)
        xy = pos + cam.bias_xy + rng.normal(0, cam.noise_m, pos.shape)
        conf = np.clip(0.97 - 0.07 * near - np.abs(rng.normal(0, 0.06, seen.shape)), 0.3, 0.99)
        if s.hands:
            hands = [self._hands(i, tt, pos[j], near[j], cam, rng) for j, i in enumerate(active)]
        else:
            hands = [[()] * len(tt) for _ in active]
        n_false = rng.poisson(s.false_per_s / cam.hz, len(tt))
        tracks = self._tracks(cam, active, tt)
        frames = []
        for f in range(len(tt)):
            people = [PersonDetection(readonly(xy[j, f]), float(conf[j, f]), hands[j][f],
                                      tracks[j][f] if tracks else None)
                      for j in np.flatnonzero(det[:, f])]
            people += self._extras(people, n_false[f], cam, rng)
            order = rng.permutation(len(people))
            frames.append(VisionFrame(float(stamps[f]), cam.id, tuple(people[o] for o in order)))
        return frames

    def _tracks(self, cam: _Camera, active: list[int], tt: np.ndarray) -> list[list[str]] | None:
        """Per active person, per frame, the camera's track id (None when off)."""
        if self.track_ids is None:
            return None
        per_person = self.track_ids[cam.id]
        out = []
        for i in active:
            breaks, ids = per_person[i]
            out.append([ids[k] for k in np.searchsorted(breaks, tt, side="right")])
        return out

    def _extras(self, people: list[PersonDetection], n_false: int, cam: _Camera,
                rng: np.random.Generator) -> list[PersonDetection]:
        """Duplicate and false detections for one frame."""
        out = [PersonDetection(readonly(p.xy + rng.normal(0, 0.2, 2)), 0.7 * p.conf)
               for p in people if rng.random() < self.spec.duplicate_p]
        x0, y0, x1, y1 = np.maximum(cam.rect, [*self.floor[:2], -np.inf, -np.inf])
        x1, y1 = min(x1, self.floor[2]), min(y1, self.floor[3])
        for _ in range(n_false):
            xy = readonly([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            out.append(PersonDetection(xy, float(rng.uniform(0.3, 0.6))))
        return out

    def _hands(self, i: int, tt: np.ndarray, body: np.ndarray, near: np.ndarray, cam: _Camera,
               rng: np.random.Generator) -> list[tuple[Hand, ...]]:
        """Per frame, the hand points reported for person ``i`` (``near``: (F,)
        people close by, who hide hands as they hide bodies)."""
        s = self.spec
        per_frame: list[list[Hand]] = [[] for _ in tt]
        miss = np.minimum(0.9, s.hand_miss_p + s.occlusion_miss_p * near)
        for h, tr in enumerate(self.tracks[i]):
            p, reaching, carry = _hand_state(tr, tt, body, 0.2 if h else -0.2)
            p = p + rng.normal(0, cam.hand_noise_m, p.shape)
            shown = np.where(reaching, rng.random(len(tt)) >= miss,
                             rng.random(len(tt)) < s.rest_hand_p)
            guess = rng.random(len(tt)) < s.holding_p
            for f in np.flatnonzero(shown):
                holding = self._guess(carry[f], rng) if carry[f] and guess[f] else None
                per_frame[f].append(Hand(readonly(p[f]), frozen_map(holding)))
        return [tuple(x) for x in per_frame]

    def _guess(self, sku: str, rng: np.random.Generator) -> dict[str, float]:
        """A product-recognition guess for a hand carrying ``sku``."""
        if rng.random() < self.spec.holding_wrong_p and len(self.skus) > 1:
            sku = self.skus[int(rng.integers(len(self.skus)))]
            return {sku: round(float(rng.uniform(0.35, 0.75)), 3)}
        return {sku: round(float(rng.uniform(0.5, 0.97)), 3)}


def _exchange_after(a: list[tuple[float, str]], b: list[tuple[float, str]], t: float,
                    ) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """Two id timelines ((start s, id), ...) with everything from ``t`` (s) on exchanged."""
    def split(tr):
        before = [x for x in tr if x[0] < t]
        after = [x for x in tr if x[0] >= t]
        if before and (not after or after[0][0] > t):
            after = [(t, before[-1][1]), *after]
        return before, after
    a0, a1 = split(a)
    b0, b1 = split(b)
    return a0 + b1, b0 + a1

"""Box tracking on real pedestrian ground truth (TUD-Campus, TUD-Stadtmitte).

Compares ``examples/mot_tracker.py`` with Roboflow's ``trackers`` (ByteTrack,
SORT; library defaults, ``frame_rate=25``) and an *oracle* that outputs every
detection with its true identity, in the same run on the same detections.

Protocol: the ground truth shipped in the ``motmetrics`` wheel
(``motmetrics/data/TUD-*/gt.txt``, MOTChallenge format, 25 frames/s, 640x480)
is turned into detections: each box is dropped with probability ``drop``,
otherwise its four corners get independent Gaussian noise of ``sigma`` px and
a score uniform in [0.5, 1]; optionally ``false`` x (number of ground-truth
boxes) false boxes are added (Poisson per frame, a size taken from a random
ground-truth box, uniform position inside the image, score uniform in
[0.1, 0.6]). Matching to the ground truth at IoU >= 0.5 (motmetrics); MOTA,
IDF1 and ID switches over both sequences together ("overall"), mean over
seeds. Frames/s counts only the trackers' ``update`` calls, on one core.

    python -m bench.mot_tud [--seeds 0-4] [--breakdown]

Needs ``motmetrics`` and ``trackers`` (installed with ``--no-deps``, plus
supervision, rich, requests, pydeprecate: not opencv-python).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if not hasattr(np, "asfarray"):  # motmetrics 1.4.0 calls np.asfarray, removed in NumPy 2
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]

import motmetrics as mm  # noqa: E402

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
FRAME_RATE_HZ = 25.0
IMAGE_WH_PX = (640.0, 480.0)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mot_tracker.py"


@dataclass(frozen=True, slots=True)
class Setting:
    """Detection noise: corner sd (px), drop probability, false boxes per true box."""

    name: str
    sigma_px: float
    drop: float
    false: float


SETTINGS = (Setting("sigma 5 px, 10 % dropped", 5.0, 0.10, 0.0),
            Setting("sigma 10 px, 20 % dropped, 5 % false boxes", 10.0, 0.20, 0.05))
# One factor of the harder setting at a time (``--breakdown``).
BREAKDOWN = (Setting("sigma 10 px, 10 % dropped", 10.0, 0.10, 0.0),
             Setting("sigma 5 px, 20 % dropped", 5.0, 0.20, 0.0),
             Setting("sigma 5 px, 10 % dropped, 5 % false boxes", 5.0, 0.10, 0.05))


def load_example():
    """Import ``examples/mot_tracker.py`` (not a package) once and return the module."""
    if "mot_tracker" in sys.modules:
        return sys.modules["mot_tracker"]
    spec = importlib.util.spec_from_file_location("mot_tracker", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mot_tracker"] = mod
    spec.loader.exec_module(mod)
    return mod


def load_gt(name: str) -> np.ndarray:
    """(n, 6) float rows ``frame, id, x, y, w, h`` (px) of a sequence in the motmetrics wheel."""
    path = Path(mm.__file__).parent / "data" / name / "gt.txt"
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    return rows[:, :6]


def make_detections(gt: np.ndarray, setting: Setting, rng: np.random.Generator
                    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per frame: ((k, 5) x1 y1 x2 y2 score, (k,) true id or -1 for a false box)."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    w_img, h_img = IMAGE_WH_PX
    for f in np.unique(gt[:, 0]).astype(int):
        g = gt[gt[:, 0] == f]
        keep = rng.random(len(g)) >= setting.drop
        g = g[keep]
        xyxy = np.column_stack([g[:, 2], g[:, 3], g[:, 2] + g[:, 4], g[:, 3] + g[:, 5]])
        xyxy = xyxy + rng.normal(0.0, setting.sigma_px, xyxy.shape)
        xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2] + 2.0)
        score = rng.uniform(0.5, 1.0, len(g))
        ids = g[:, 1].astype(int)
        n_false = rng.poisson(setting.false * keep.size) if setting.false else 0
        if n_false:
            size = gt[rng.integers(0, len(gt), n_false), 4:6]
            x1 = rng.uniform(0.0, 1.0, n_false) * np.maximum(w_img - size[:, 0], 1.0)
            y1 = rng.uniform(0.0, 1.0, n_false) * np.maximum(h_img - size[:, 1], 1.0)
            xyxy = np.vstack([xyxy, np.column_stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]])])
            score = np.concatenate([score, rng.uniform(0.1, 0.6, n_false)])
            ids = np.concatenate([ids, -np.ones(n_false, dtype=int)])
        out[int(f)] = (np.column_stack([xyxy, score]), ids)
    return out


# ------------------------------------------------------------------ trackers
Runner = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def ours_factory(**overrides: float) -> Callable[[], Runner]:
    def factory() -> Runner:
        trk = load_example().make_tracker(frame_rate_hz=FRAME_RATE_HZ, **overrides)

        def run(dets: np.ndarray, _ids: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
            out = trk.update(dets, frame)
            return out[:, :4], out[:, 4].astype(int)
        return run
    return factory


def roboflow_factory(kind: str) -> Callable[[], Runner]:
    def factory() -> Runner:
        import supervision as sv
        from trackers import ByteTrackTracker, SORTTracker
        trk = (ByteTrackTracker if kind == "bytetrack" else SORTTracker)(frame_rate=FRAME_RATE_HZ)

        def run(dets: np.ndarray, _ids: np.ndarray, _frame: int) -> tuple[np.ndarray, np.ndarray]:
            res = trk.update(sv.Detections(xyxy=dets[:, :4].astype(np.float32),
                                           confidence=dets[:, 4].astype(np.float32)))
            ok = res.tracker_id >= 0
            return res.xyxy[ok], res.tracker_id[ok]
        return run
    return factory


def oracle_factory() -> Runner:
    def run(dets: np.ndarray, ids: np.ndarray, _frame: int) -> tuple[np.ndarray, np.ndarray]:
        real = ids >= 0
        return dets[real, :4], ids[real]
    return run


TRACKERS: dict[str, Callable[[], Runner]] = {
    "ours (examples/mot_tracker.py)": ours_factory(),
    "ours, hit tracks only (report_coast_s=0)": ours_factory(report_coast_s=0.0),
    "trackers.ByteTrack": roboflow_factory("bytetrack"),
    "trackers.SORT": roboflow_factory("sort"),
    "oracle (true ids)": oracle_factory,
}


def run_sequence(factory: Callable[[], Runner], gt: np.ndarray,
                 dets: dict[int, tuple[np.ndarray, np.ndarray]]) -> tuple[mm.MOTAccumulator, float]:
    """Run one tracker over a sequence; return its accumulator and update time (s)."""
    run = factory()
    acc = mm.MOTAccumulator(auto_id=True)
    busy_s = 0.0
    for f in sorted(dets):
        d, ids = dets[f]
        t0 = time.perf_counter()
        boxes, tids = run(d, ids, f)
        busy_s += time.perf_counter() - t0
        g = gt[gt[:, 0] == f]
        hyp = np.column_stack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]]) if len(boxes) else \
            np.empty((0, 4))
        dist = mm.distances.iou_matrix(g[:, 2:6], hyp, max_iou=0.5)
        acc.update(g[:, 1].astype(int).tolist(), np.asarray(tids).astype(int).tolist(), dist)
    return acc, busy_s


def evaluate(setting: Setting, seeds: list[int],
             trackers: dict[str, Callable[[], Runner]] | None = None) -> dict[str, np.ndarray]:
    """Per tracker (default: :data:`TRACKERS`): (n_seeds, 4) rows of MOTA %, IDF1 %,
    ID switches, frames/s."""
    trackers = TRACKERS if trackers is None else trackers
    gts = {s: load_gt(s) for s in SEQUENCES}
    mh = mm.metrics.create()
    res: dict[str, list[list[float]]] = {name: [] for name in trackers}
    for seed in seeds:
        dets = {s: make_detections(gts[s], setting, np.random.default_rng([seed, k]))
                for k, s in enumerate(SEQUENCES)}
        for name, factory in trackers.items():
            accs, busy, frames = [], 0.0, 0
            for s in SEQUENCES:
                acc, b = run_sequence(factory, gts[s], dets[s])
                accs.append(acc)
                busy += b
                frames += len(dets[s])
            summ = mh.compute_many(accs, metrics=["mota", "idf1", "num_switches"],
                                   names=list(SEQUENCES), generate_overall=True)
            o = summ.loc["OVERALL"]
            res[name].append([100 * float(o["mota"]), 100 * float(o["idf1"]),
                              float(o["num_switches"]), frames / max(busy, 1e-9)])
    return {k: np.array(v) for k, v in res.items()}


def table(setting: Setting, res: dict[str, np.ndarray], seeds: list[int]) -> str:
    lines = [f"**{setting.name}** (TUD-Campus + TUD-Stadtmitte, seeds {seeds[0]}-{seeds[-1]}, "
             "mean (min-max) over seeds)", "",
             "| tracker | MOTA % | IDF1 % | ID switches | frames/s |",
             "| --- | --- | --- | --- | --- |"]
    for name, r in res.items():
        m, lo, hi = r.mean(axis=0), r.min(axis=0), r.max(axis=0)
        lines.append(f"| {name} | {m[0]:.1f} ({lo[0]:.1f}-{hi[0]:.1f}) | "
                     f"{m[1]:.1f} ({lo[1]:.1f}-{hi[1]:.1f}) | {m[2]:.1f} | {m[3]:,.0f} |")
    return "\n".join(lines) + "\n"


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,2")
    ap.add_argument("--breakdown", action="store_true",
                    help="also run each factor of the harder setting alone")
    args = ap.parse_args(argv)
    seeds = _seeds(args.seeds)
    settings = SETTINGS + (BREAKDOWN if args.breakdown else ())
    parts = [table(s, evaluate(s, seeds), seeds) for s in settings]
    text = "\n".join(parts)
    print(text)
    return text


if __name__ == "__main__":
    main()

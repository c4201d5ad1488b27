"""Slow cameras: the same store with every camera at a lower frame rate.

Run: ``python -m bench.frame_rate [--scenario concession] [--seeds 0-4] [--hz 5]``
(``make bench`` runs it). Each seed of the scenario is simulated with its
cameras at the preset rate and at each ``--hz`` (same people, shelves and
weights; only the vision stream changes), and replayed by the engine with the
tracker's frame-rate time constants stretched to the cameras' learned frame
interval, and the engine's hand points per score cut to match
(``TrackerConfig.frame_ref_s``, the default), and with both fixed at their
10-fps values (``frame_ref_s=None``); at the preset rate the two are the same
run. Sums over seeds; attribution is the mean over seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from multiprocessing import Pool
from pathlib import Path

from bench.scenarios import _seeds
from fusion.engine import Engine, EngineConfig
from fusion.recording import Recording
from fusion.scoring import score
from fusion.sim import simulate
from fusion.sim.presets import SCENARIOS
from fusion.tracking import TrackerConfig


def _scenario(name: str, hz: float | None):
    scn = SCENARIOS[name]
    if hz is None:
        return scn
    return dataclasses.replace(scn, vision=dataclasses.replace(scn.vision, hz=(hz, hz)))


def _job(args: tuple[str, float | None, int, str]) -> dict:
    name, hz, seed, root = args
    folder = Path(root) / f"{name}-{hz}-{seed}"
    simulate(_scenario(name, hz), seed, folder)
    rec = Recording(folder)
    truth = rec.read_truth()
    out = {}
    for stretch in ((True,) if hz is None else (True, False)):
        cfg = EngineConfig(tracker=TrackerConfig(frame_ref_s=TrackerConfig().frame_ref_s if stretch else None))
        eng = Engine(rec.store, cfg)
        for item in rec.stream():
            eng.feed(item)
        eng.finish()
        card = score(eng.receipts(), truth)
        out[stretch] = dict(sales=card.sales, reviews=card.reviews, wrong=card.wrong,
                            attr=card.attribution_accuracy, identity=card.identity_errors,
                            other=card.attribution_errors, scale=eng.tracker.frame_scale,
                            interval=eng.tracker.frame_interval_s)
    return dict(hz=hz, seed=seed, runs=out)


def run(name: str, seeds: list[int], rates: list[float], processes: int = 2) -> list[dict]:
    with tempfile.TemporaryDirectory() as root:
        jobs = [(name, hz, s, root) for hz in [None, *rates] for s in seeds]
        with Pool(processes) as pool:
            return pool.map(_job, jobs)


def table(results: list[dict], name: str) -> str:
    preset = SCENARIOS[name].vision.hz
    lines = ["| cameras | frame-rate rules | learned frame interval s | stretch | sales | reviews /1000 "
             "| wrong /1000 | attribution | identity errors | attribution errors |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rates = sorted({r["hz"] for r in results}, key=lambda h: 0.0 if h is None else 1.0 / h)
    for hz in rates:
        rows = [r for r in results if r["hz"] == hz]
        for stretch in (True, False):
            runs = [r["runs"][stretch] for r in rows if stretch in r["runs"]]
            if not runs:
                continue
            sales = sum(x["sales"] for x in runs)
            cam = f"{preset[0]:g}-{preset[1]:g} fps (preset)" if hz is None else f"{hz:g} fps"
            how = "stretched (default)" if stretch and hz is not None else (
                "fixed at 10 fps" if not stretch else "as configured")
            iv = [x["interval"] for x in runs if x["interval"] is not None]
            lines.append(
                f"| {cam} | {how} | {min(iv):.3f}-{max(iv):.3f} | {max(x['scale'] for x in runs):g} | {sales} "
                f"| {1000 * sum(x['reviews'] for x in runs) / max(sales, 1):.1f} "
                f"| {1000 * sum(x['wrong'] for x in runs) / max(sales, 1):.1f} "
                f"| {sum(x['attr'] for x in runs) / len(runs):.4f} "
                f"| {sum(x['identity'] for x in runs)} | {sum(x['other'] for x in runs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="concession")
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--hz", default="5", help="comma-separated camera frame rates to try (Hz)")
    args = ap.parse_args(argv)
    results = run(args.scenario, _seeds(args.seeds), [float(h) for h in args.hz.split(",")])
    return table(results, args.scenario)


if __name__ == "__main__":
    print(main())

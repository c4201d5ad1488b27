"""Camera calibration benchmark: misaligned cameras, with and without learning them.

Run: ``python -m bench.cameras [--scenario rush] [--seeds 0-2] [--bias 0.04,0.12]``
(``make bench`` runs it). Each seed of the scenario is simulated with the
cameras' floor-position bias drawn with each standard deviation (per axis and
camera; the presets use 0.04 m), replayed by the engine with the tracker's
camera calibration on and off (``TrackerConfig.camera_calibration``), and
scored. It also reports how far the learned biases are from the simulator's:
the largest error over cameras, of each camera's bias relative to the
cameras' detection-weighted mean (the only part that is observable).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from bench.scenarios import _seeds
from fusion.engine import Engine, EngineConfig
from fusion.recording import Recording
from fusion.scoring import score
from fusion.sim import simulate
from fusion.sim.presets import SCENARIOS
from fusion.sim.simulate import prepare
from fusion.sim.vision import VisionBlocks
from fusion.tracking import TrackerConfig


def _scenario(name: str, bias_m: float):
    scn = SCENARIOS[name]
    return dataclasses.replace(scn, vision=dataclasses.replace(scn.vision, bias_m=bias_m))


def _job(args: tuple[str, float, int, str]) -> dict:
    name, bias_m, seed, root = args
    scn = _scenario(name, bias_m)
    folder = Path(root) / f"{name}-{bias_m}-{seed}"
    simulate(scn, seed, folder)
    rec = Recording(folder)
    truth = rec.read_truth()
    _, layout, plan = prepare(scn, seed)
    true_bias = {c.id: c.bias_xy for c in VisionBlocks(scn.vision, layout, plan.people, seed).cameras}
    out = {}
    for on in (True, False):
        eng = Engine(rec.store, EngineConfig(tracker=TrackerConfig(camera_calibration=on)))
        for item in rec.stream():
            eng.feed(item)
        eng.finish()
        card = score(eng.receipts(), truth)
        err = None
        est = eng.tracker.camera_estimates()
        if est:
            w = np.array([e.samples for e in est], dtype=float)
            tb = np.array([true_bias[e.camera] for e in est])
            rel = tb - (tb * w[:, None]).sum(0) / w.sum()
            err = float(max(np.linalg.norm(e.bias_xy - r) for e, r in zip(est, rel, strict=True)))
        raw = float(max(np.linalg.norm(b - np.mean(list(true_bias.values()), axis=0))
                        for b in true_bias.values()))
        out[on] = dict(sales=card.sales, reviews=card.reviews, wrong=card.wrong,
                       attr=card.attribution_accuracy, identity=card.identity_errors,
                       other=card.attribution_errors, err=err, raw=raw)
    return dict(bias=bias_m, seed=seed, runs=out)


def run(name: str, seeds: list[int], biases: list[float], processes: int = 2) -> list[dict]:
    with tempfile.TemporaryDirectory() as root:
        jobs = [(name, b, s, root) for b in biases for s in seeds]
        with Pool(processes) as pool:
            results = pool.map(_job, jobs)
    return results


def table(results: list[dict]) -> str:
    lines = ["| camera bias sd m | calibration | sales | reviews /1000 | wrong /1000 | attribution "
             "| identity errors | attribution errors | largest camera bias cm | its error after learning cm |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for bias in sorted({r["bias"] for r in results}):
        rows = [r for r in results if r["bias"] == bias]
        for on in (True, False):
            runs = [r["runs"][on] for r in rows]
            sales = sum(x["sales"] for x in runs)
            errs = [x["err"] for x in runs if x["err"] is not None]
            learned = f"{100 * np.mean(errs):.1f}" if errs else "(not learned)"
            lines.append(
                f"| {bias:.2f} | {'on' if on else 'off'} | {sales} "
                f"| {1000 * sum(x['reviews'] for x in runs) / max(sales, 1):.1f} "
                f"| {1000 * sum(x['wrong'] for x in runs) / max(sales, 1):.1f} "
                f"| {np.mean([x['attr'] for x in runs]):.4f} "
                f"| {sum(x['identity'] for x in runs)} | {sum(x['other'] for x in runs)} "
                f"| {100 * np.mean([x['raw'] for x in runs]):.1f} | {learned} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="rush")
    ap.add_argument("--seeds", default="0-2")
    ap.add_argument("--bias", default="0.04,0.12", help="camera bias sd per axis (m), comma-separated")
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args(argv)
    seeds = _seeds(args.seeds)
    biases = [float(b) for b in args.bias.split(",")]
    text = table(run(args.scenario, seeds, biases, args.processes))
    print(text)
    return text


if __name__ == "__main__":
    main()

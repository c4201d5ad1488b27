"""Sizes and simulation time of each simulator preset over seeds (docs/simulator.md).

    python -m bench.sim_sizes [--seeds 0-4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fusion.sim import SCENARIOS, simulate


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-4")
    args = ap.parse_args(argv)
    a, b = (args.seeds.split("-") + [args.seeds])[:2]
    rows = ["| preset | length s | accounts | people | takes | returns | weight rows | frames | seconds to simulate |",
            "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in SCENARIOS:
            runs = []
            for seed in range(int(a), int(b) + 1):
                t0 = time.perf_counter()
                s = simulate(name, seed, Path(tmp) / f"{name}-{seed}")
                runs.append((s, time.perf_counter() - t0))

            def rng(f, fmt="{:.0f}", runs=runs):
                vals = [f(s, dt) for s, dt in runs]
                lo, hi = fmt.format(min(vals)), fmt.format(max(vals))
                return lo if lo == hi else f"{lo}-{hi}"
            rows.append(f"| {name} | {rng(lambda s, d: s.end_s)} | {rng(lambda s, d: s.accounts)} | "
                        f"{rng(lambda s, d: s.people)} | {rng(lambda s, d: s.takes)} | {rng(lambda s, d: s.returns)} | "
                        f"{rng(lambda s, d: s.weight_samples / 1e3, '{:.0f} k')} | "
                        f"{rng(lambda s, d: s.vision_frames / 1e3, '{:.0f} k')} | {rng(lambda s, d: d, '{:.1f}')} |")
    text = "\n".join(rows)
    print(text)
    return text


if __name__ == "__main__":
    main()

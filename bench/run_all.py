"""``make bench``: run every benchmark and write docs/benchmarks.md.

Each section is produced by one module of this package, in this run, on this
machine; the page records the command, date, Python and CPU so figures can be
compared. Speed is CPU time of one process (one core).

    python -m bench.run_all [--quick] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import platform
import sys
from pathlib import Path

from bench import (
    cameras,
    frame_rate,
    identity,
    memory,
    modbus_polls,
    mot_tud,
    scenarios,
    weight_corpus,
    weight_throughput,
)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"Python {platform.python_version()}, {cpu}, {os.cpu_count()} cores"


def _captured(fn, argv) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn(argv)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds and shorter runs (for a smoke check)")
    ap.add_argument("--out", default="docs/benchmarks.md")
    args = ap.parse_args(argv)
    seeds = "0-1" if args.quick else "0-4"
    print(f"scenarios (seeds {seeds}) ...", file=sys.stderr, flush=True)
    scen = scenarios.main(["--scenarios", "easy,concession,rush,aisle", "--seeds", seeds])
    print("peak memory vs recording length ...", file=sys.stderr, flush=True)
    mem = _captured(memory.main, ["--minutes", "2,8" if args.quick else "10,40"])
    print("weight throughput ...", file=sys.stderr, flush=True)
    weight = _captured(weight_throughput.main, ["--seconds", "20" if args.quick else "60"])
    print("weight corpus ...", file=sys.stderr, flush=True)
    corpus = _captured(weight_corpus.main, ["--plates", "1", "--seconds", "300"] if args.quick else [])
    print("identity vs oracle ...", file=sys.stderr, flush=True)
    ident = identity.main(["--seeds", "0-1" if args.quick else "0-2"])
    print("camera calibration ...", file=sys.stderr, flush=True)
    cam_seeds = "0" if args.quick else "0-2"
    cams = cameras.main(["--scenario", "rush", "--seeds", cam_seeds])
    print("slow cameras ...", file=sys.stderr, flush=True)
    fr_seeds = "0-1" if args.quick else "0-4"
    slow = frame_rate.main(["--scenario", "concession", "--seeds", fr_seeds, "--hz", "5"])
    print("MOT (TUD) ...", file=sys.stderr, flush=True)
    mot = _captured(mot_tud.main, ["--seeds", "0-1"] if args.quick else [])
    print("modbus bus ...", file=sys.stderr, flush=True)
    modbus = modbus_polls.main(["--seconds", "1" if args.quick else "3"])
    today = datetime.date.today().isoformat()
    text = f"""# Benchmarks

Every figure on this page was written by `make bench` (`python -m bench.run_all`)
on {today}, {_machine()}. Run it again to refresh the page; the numbers vary
with the machine and its load, ratios less than absolute times.

## Store scenarios: scorecard and replay speed

`python -m bench.scenarios --scenarios easy,concession,rush,aisle --seeds {seeds}`: each
preset of the simulator (docs/simulator.md) is simulated for every seed,
replayed by the engine and scored against its truth with the spec's scorecard
(`fusion/scoring.py`). Counts are summed over the seeds; unit recall/precision
and attribution are means over seeds (receipt lines matched one-to-one to true
events of the same SKU and sign within 2 s, per unit; attribution = share of
matched units charged to the right account). Wrong-account units are split
into *identity errors* (the charged track stood within 0.3 m of the true
shopper: right person, wrong account on the track) and *attribution errors*
(another person was charged), from the optional `xy` keys the simulator and
the engine write. Replay speed is store time divided by the CPU time of the
replay (one core), reading the recording from disk.

{scen}

## Peak memory against recording length

`python -m bench.memory --minutes {"2,8" if args.quick else "10,40"}`: {memory.__doc__.split(chr(10), 2)[2].split("    python")[0].strip()}

{mem.strip()}

## Where receipts go wrong: tracker identity vs. an oracle

`python -m bench.identity --scenario concession --seeds {"0-1" if args.quick else "0-2"}`: {identity.__doc__.split(chr(10), 2)[2].split("    python")[0].strip()}

{ident}

## Misaligned cameras: the tracker learns their biases

`python -m bench.cameras --scenario rush --seeds {cam_seeds}`: each
seed of `rush` is simulated with the cameras' floor-position bias drawn with
standard deviation 0.04 m (the presets') and 0.12 m (a poorly calibrated
installation) per axis and camera, and replayed with the tracker's camera
calibration (`TrackerConfig.camera_calibration`, docs/tracking.md) on and
off. Counts are summed over seeds, attribution is the mean; the last two
columns are means over seeds of the largest camera bias (from the cameras'
mean) and of the largest error of the learned biases.

{cams}

## Slow cameras: the frame-rate rules

`python -m bench.frame_rate --scenario concession --seeds {fr_seeds} --hz 5`: each
seed of `concession` is simulated with its cameras at the preset rate and at
5 fps (same people, shelves and weights; only the vision stream changes), and
replayed with the frame-rate rules on (the tracker's time constants
stretched to the cameras' learned frame interval and the engine's hand
points per score cut to match: `TrackerConfig.frame_ref_s`, the default,
docs/tracking.md "Camera frame rate") and off (`frame_ref_s=None`); at the
preset rate the two are the same run. Counts are summed over seeds,
attribution is the mean.

{slow}

## Weight events on a corpus of simulated plates, against the published baseline

`python -m bench.weight_corpus`: see docs/weight-pipeline.md for the corpus and the baseline.

{corpus.strip()}

## Shopper tracker core on real pedestrian data (TUD, MOTChallenge)

`python -m bench.mot_tud`: see docs/mot-benchmark.md for the protocol.

{mot.strip()}

## Weight path throughput

`python bench/weight_throughput.py`: `WeightDetector.process` (Kalman level,
change detection, segmentation, merging) on a synthetic store of 20 or 200
plates at mixed 10-80 Hz with a press-and-take every ~20 s per plate, fed in
chunks of `chunk_s` seconds as the engine does; samples per second of wall time
in one process.

```
{weight.strip()}
```

## Modbus RTU bus: polls/s against the line limit

`python -m bench.modbus_polls`: {modbus_polls.__doc__.split(chr(10), 2)[2].split("    python")[0].strip()}

{modbus}
"""
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

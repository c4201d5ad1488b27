"""The ``shelf-fusion`` command line: the one place that wires fusion and drivers.

Store commands: ``simulate``, ``replay``, ``score``, ``demo``, ``plot``.
Errors from bad input end the program with exit status 2 and one line on
stderr saying what and where, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from fusion.errors import ShelfFusionError

EXIT_BAD_INPUT = 2


def _progress_bar(desc: str, quiet: bool):
    from tqdm import tqdm
    return tqdm(total=100, desc=desc, unit="%", disable=quiet, leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")


def cmd_simulate(args) -> int:
    from fusion.sim import simulate
    bar = _progress_bar(f"simulate {args.scenario}", args.quiet)
    with bar:
        def progress(frac: float) -> None:
            bar.n = round(100 * frac, 1)
            bar.refresh()
        summary = simulate(args.scenario, args.seed, args.out, progress=progress,
                           duration_s=args.duration)
    if not args.quiet:
        print(f"wrote {args.out}: {summary}")
    return 0


def engine_config(review_below: float | None = None):
    """The default :class:`fusion.engine.EngineConfig`, with ``review_below``
    (``ReceiptConfig.review_below``) when given."""
    import dataclasses

    from fusion.engine import EngineConfig
    config = EngineConfig()
    if review_below is None:
        return config
    return dataclasses.replace(
        config, receipts=dataclasses.replace(config.receipts, review_below=review_below))


def replay_folder(folder: str | Path, quiet: bool = True, desc: str = "replay",
                  review_below: float | None = None):
    """Replay a recording folder; returns (recording, engine, wall seconds).
    ``review_below`` overrides ``ReceiptConfig.review_below``."""
    from fusion.engine import Engine
    from fusion.recording import Recording
    rec = Recording(folder)
    eng = Engine(rec.store, engine_config(review_below))
    bar = _progress_bar(desc, quiet)
    wall0 = time.perf_counter()
    with bar:
        for n, item in enumerate(rec.stream()):
            eng.feed(item)
            if not quiet and n % 2000 == 0:
                bar.n = round(100 * rec.progress(), 1)
                bar.refresh()
        eng.finish()
    return rec, eng, time.perf_counter() - wall0


def cmd_replay(args) -> int:
    from fusion.recording import write_receipts
    rec, eng, wall = replay_folder(args.recording, quiet=args.quiet, review_below=args.review_below)
    receipts = eng.receipts()
    out = Path(args.out) if args.out else Path(args.recording) / "receipts.json"
    write_receipts(out, receipts)
    if not args.quiet:
        reviews = sum(r.review for r in receipts)
        speed = f", {eng.now / wall:.0f}x real time" if wall > 0 and eng.now > 0 else ""
        print(f"{len(receipts)} receipts ({reviews} for review) -> {out}  [{wall:.1f} s{speed}]")
        for line in camera_lines(eng.tracker):
            print(line)
    return 0


#: a learned camera bias beyond this is worth a look at the camera's calibration (m)
CAMERA_BIAS_WARN_M = 0.10


def camera_lines(tracker) -> list[str]:
    """What the tracker learned about each camera (bias relative to the
    cameras' mean, noise), one line each, flagging a bias over
    :data:`CAMERA_BIAS_WARN_M`; empty when it learned nothing."""
    estimates = tracker.camera_estimates()
    if not estimates:
        return []
    out = ["cameras (learned from the tracks; bias relative to the cameras' mean):"]
    for e in estimates:
        note = "" if e.applied else "  (too few detections, not applied)"
        if e.applied and math.hypot(*map(float, e.bias_xy)) > CAMERA_BIAS_WARN_M:
            note = (f"  <- more than {100 * CAMERA_BIAS_WARN_M:.0f} cm off the others: "
                    "check this camera's floor calibration")
        out.append(f"  {e.camera}: bias {100 * e.bias_xy[0]:+.1f}, {100 * e.bias_xy[1]:+.1f} cm, "
                   f"noise {100 * e.noise_sd_m:.1f} cm, {e.samples} detections{note}")
    return out


def cmd_score(args) -> int:
    from fusion.recording import load_receipts, load_truth
    from fusion.scoring import review_curve, score
    receipts, truth = load_receipts(args.receipts), load_truth(args.truth)
    card = score(receipts, truth)
    curve = review_curve(receipts, truth) if args.curve else []
    if args.json:
        d = card.as_dict()
        if args.curve:
            d["review_curve"] = [[p.threshold, p.reviews_per_1000, p.wrong_per_1000] for p in curve]
        print(json.dumps(d, indent=1))
        return 0
    print("\n".join(card.lines()))
    if card.wrong_accounts:
        print("wrong: " + ", ".join(card.wrong_accounts[:20]))
    if curve:
        print("if receipts below a confidence were reviewed (per 1,000 sales):")
        for p in curve:
            print(f"  review below {p.threshold:.2f}: reviews {p.reviews_per_1000:6.1f}  "
                  f"wrong {p.wrong_per_1000:5.1f}")
    return 0


def cmd_demo(args) -> int:
    from fusion.recording import write_receipts
    from fusion.scoring import score
    from fusion.sim import simulate
    out = Path(args.out)
    t0 = time.perf_counter()
    bar = _progress_bar(f"simulate {args.scenario}", args.quiet)
    with bar:
        def progress(frac: float) -> None:
            bar.n = round(100 * frac, 1)
            bar.refresh()
        simulate(args.scenario, args.seed, out, progress=progress)
    rec, eng, wall = replay_folder(out, quiet=args.quiet)
    receipts = eng.receipts()
    write_receipts(out / "receipts.json", receipts)
    card = score(receipts, rec.read_truth())
    print(f"scenario {args.scenario}, seed {args.seed}: {eng.now:.0f} s of store time, "
          f"replayed in {wall:.1f} s ({eng.now / max(wall, 1e-9):.0f}x real time); "
          f"total {time.perf_counter() - t0:.1f} s")
    print("\n".join(card.lines()))
    print(f"recording and receipts.json in {out}")
    return 0


def unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return v


def add_review_below(parser: argparse.ArgumentParser) -> None:
    """The ``--review-below CONF`` option of commands that run the engine."""
    parser.add_argument("--review-below", type=unit_interval, default=None, metavar="CONF",
                        help="send receipts whose confidence is below CONF to review (default: 0.85)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shelf-fusion", description=__doc__.split("\n")[0])
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("simulate", help="simulate a store and write a recording with truth")
    s.add_argument("--scenario", default="concession", help="preset name (default: concession)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="recording folder to write")
    s.add_argument("--duration", type=float, default=None, help="seconds of store time (default: preset)")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("replay", help="run the engine over a recording and write receipts.json")
    s.add_argument("recording", help="recording folder")
    s.add_argument("--out", default=None, help="receipts file (default: RECORDING/receipts.json)")
    add_review_below(s)
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("score", help="score receipts.json against truth.json")
    s.add_argument("receipts")
    s.add_argument("truth")
    s.add_argument("--json", action="store_true", help="print the scorecard as JSON")
    s.add_argument("--curve", action="store_true",
                   help="also print reviews and wrong charges at other review thresholds")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("demo", help="simulate, replay and score the default scenario")
    s.add_argument("--scenario", default="concession")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="demo-out", help="folder for the recording (default: demo-out)")
    s.set_defaults(func=cmd_demo)
    _add_optional_commands(sub)
    return p


def _add_optional_commands(sub) -> None:
    """Commands that live in other modules (bring-up, plotting), registered if present."""
    import importlib
    for name in ("shelf_fusion.bringup", "shelf_fusion.plot"):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        mod.add_parsers(sub)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shelf-fusion`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ShelfFusionError as e:
        print(f"shelf-fusion {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"shelf-fusion {args.command}: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"shelf-fusion {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

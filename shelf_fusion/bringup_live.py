"""Bring-up commands that run for a while: ``stream``, ``record``, ``run``, ``emulate``.

Registered by :func:`shelf_fusion.bringup.add_parsers` (see docs/bring-up.md).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fusion.types import SampleFlag
from shelf_fusion.cli import add_review_below


def _until(seconds: float | None) -> float:
    return math.inf if seconds is None else time.monotonic() + seconds


@contextlib.contextmanager
def ctrl_c_stops() -> Iterator[threading.Event]:
    """While inside, the first Ctrl-C (SIGINT) only sets the yielded event, so a
    polling loop stops between two polls instead of being interrupted inside a
    driver transaction or a half-written line; a second Ctrl-C raises
    :class:`KeyboardInterrupt` as usual. Outside the main thread (where no
    handler can be set) the event is never set and Ctrl-C behaves as usual."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------- stream


def channel_stats(samples: np.ndarray, window_s: float) -> list[tuple[int, float, float, float, int]]:
    """Per channel: (channel, rate Hz, mean g, sd g, gaps) of ``samples`` over ``window_s``."""
    out = []
    for ch in np.unique(samples["cell"]):
        s = samples[samples["cell"] == ch]
        g = s["grams"][~np.isnan(s["grams"])].astype(np.float64)
        out.append((int(ch), len(s) / window_s, float(g.mean()) if len(g) else math.nan,
                    float(g.std(ddof=1)) if len(g) > 1 else math.nan, int(len(s) - len(g))))
    return out


def _stat_line(ch: int, rate: float, mean: float, sd: float, gaps: int, stable: float) -> str:
    return (f"ch{ch:<3d} {rate:7.1f} Hz  {mean:11.2f} g  sd {sd:7.3f} g  "
            f"stable {100 * stable:5.1f} %  gaps {gaps}")


def _read_for(drv, seconds: float, rate_hz: float) -> np.ndarray:
    """Call ``drv.read()`` at ``rate_hz`` for ``seconds``; all samples (monotonic clock)."""
    out = []
    end = time.monotonic() + seconds
    while True:
        out.append(drv.read())
        left = end - time.monotonic()
        if left <= 0:
            return np.concatenate(out)
        time.sleep(min(1.0 / rate_hz, left))


def cmd_stream(args) -> int:
    from drivers.registry import open_driver
    tty = sys.stdout.isatty()
    end = _until(args.seconds)
    drawn = 0
    with open_driver(args.url, args.profile) as drv:
        if tty:
            print("channel    rate          mean        noise        stable    gaps  (Ctrl-C stops)")
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                s = _read_for(drv, max(0.05, min(args.refresh, end - t0)), args.rate)
            except KeyboardInterrupt:
                break
            window = max(time.monotonic() - t0, 1e-3)
            lines = []
            for ch, rate, mean, sd, gaps in channel_stats(s, window):
                st = s["flags"][s["cell"] == ch] & SampleFlag.STABLE
                lines.append(_stat_line(ch, rate, mean, sd, gaps, float(np.mean(st > 0))))
            lines = lines or ["no samples"]
            if tty and drawn:
                sys.stdout.write(f"\x1b[{drawn}F")  # back to the top of the table
            sys.stdout.write("".join(("\x1b[K" if tty else "") + line + "\n" for line in lines))
            sys.stdout.flush()
            drawn = len(lines)
    return 0


# ------------------------------------------------------------------- record


def _shelf(store_path: str):
    from fusion.store import load_store
    from shelf_fusion.live import LiveShelf, load_controllers
    store = load_store(store_path)
    ctrls = load_controllers(store)
    if not ctrls:
        from fusion.errors import StoreConfigError
        raise StoreConfigError(store_path, "controller", "no [[controller]] table: add one per "
                               "controller (url, profile, cells, rate_hz); see docs/bring-up.md")
    return store, LiveShelf(ctrls)


def _sleep_until_due(shelf, end_t: float) -> None:
    time.sleep(max(0.0, min(shelf.next_due_s(), end_t) - shelf.clock()))


def cmd_record(args) -> int:
    from fusion.recording import RecordingWriter
    store, shelf = _shelf(args.store)
    end = math.inf if args.seconds is None else args.seconds
    counts = np.zeros(len(store.cells), dtype=np.int64)
    gaps = np.zeros(len(store.cells), dtype=np.int64)
    with RecordingWriter(args.out, store) as writer, shelf, ctrl_c_stops() as stop:
        print(f"recording {len(shelf.drivers)} controller(s) to {args.out}"
              + ("" if args.seconds else "; Ctrl-C stops"), file=sys.stderr, flush=True)
        try:
            while shelf.clock() < end and not stop.is_set():
                s = shelf.poll()
                writer.write_weights(s)
                np.add.at(counts, s["cell"].astype(np.int64), 1)
                np.add.at(gaps, s["cell"][np.isnan(s["grams"])].astype(np.int64), 1)
                _sleep_until_due(shelf, end)
        except KeyboardInterrupt:  # Ctrl-C ends a recording normally
            pass
        finally:
            writer.write_weights(shelf.drain())
    shutil.copyfile(args.store, Path(args.out) / "store.toml")  # keeps [[controller]] tables
    for c, n, g in zip(store.cells, counts, gaps, strict=True):
        print(f"{c.id:12s} {n:7d} samples  {g:4d} gaps")
    print(f"wrote {Path(args.out) / 'weights.csv'} ({shelf.released_t:.1f} s)")
    return 0


# ---------------------------------------------------------------------- run


def cmd_run(args) -> int:
    from fusion.recording import receipts_to_json
    from shelf_fusion.cli import engine_config
    from shelf_fusion.live import LiveRun, read_gates_file, read_vision_file
    store, shelf = _shelf(args.store)
    events = []
    if args.vision:
        events += read_vision_file(args.vision)
    if args.gates:
        events += read_gates_file(args.gates, store)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout

    def emit(receipt) -> None:
        out.write(json.dumps(receipts_to_json([receipt])["receipts"][0]) + "\n")
        out.flush()
    try:
        with shelf, ctrl_c_stops() as stop:
            run = LiveRun(store, shelf, events, on_receipt=emit,
                          config=engine_config(args.review_below))
            print(f"running on {len(shelf.drivers)} controller(s)"
                  + ("" if args.seconds else "; Ctrl-C stops"), file=sys.stderr, flush=True)
            # Ctrl-C ends a run between two polls: the rest is decided and written
            receipts = run.run(args.seconds, should_stop=stop.is_set)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{len(receipts)} receipts ({sum(r.review for r in receipts)} for review) from "
          f"{run.n_samples} samples over {shelf.released_t:.1f} s"
          + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


# ------------------------------------------------------------------ emulate


def cmd_emulate(args) -> int:
    from shelf_fusion.bringup_emulate import start_emulator
    emu = start_emulator(args.profile, scenario=args.scenario, grams=args.grams, seed=args.seed,
                         unit=args.unit)
    try:
        print(f"{emu.profile} emulator ({emu.channels} channel(s)) listening on {emu.url}",
              flush=True)
        end = _until(args.seconds)
        while time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


def add_live_parsers(sub, device) -> None:
    """Register stream/record/run/emulate; ``device(name, help)`` makes a URL+profile parser."""
    s = device("stream", "live per-channel rate, mean and noise, refreshed in place")
    s.add_argument("--seconds", type=float, default=None, help="stop after seconds (default: Ctrl-C)")
    s.add_argument("--refresh", type=float, default=1.0, help="seconds per refresh (default 1)")
    s.add_argument("--rate", type=float, default=20.0, help="read() calls per second (default 20)")
    s.set_defaults(func=cmd_stream)

    s = sub.add_parser("record", help="read every [[controller]] of store.toml into a recording")
    s.add_argument("--store", required=True, help="store.toml with [[controller]] tables")
    s.add_argument("--out", required=True, help="recording folder to write")
    s.add_argument("--seconds", type=float, default=None, help="stop after seconds (default: Ctrl-C)")
    s.set_defaults(func=cmd_record)

    s = sub.add_parser("run", help="the online engine on live controllers")
    s.add_argument("--store", required=True, help="store.toml with [[controller]] tables")
    s.add_argument("--vision", default=None, help="vision.jsonl, fed as its times come due")
    s.add_argument("--gates", default=None, help="gates.csv, fed as its times come due")
    s.add_argument("--out", default=None, help="receipts as JSON lines (default: stdout)")
    s.add_argument("--seconds", type=float, default=None, help="stop after seconds (default: Ctrl-C)")
    add_review_below(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("emulate", help="start an emulated controller and print its URL")
    s.add_argument("profile", help="profile to emulate (serial: pty; Modbus: TCP on 127.0.0.1)")
    s.add_argument("--scenario", default=None,
                   help="simulator scenario whose first plates feed the channels (default: constant)")
    s.add_argument("--grams", type=float, default=1000.0, help="constant load (g, default 1000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--unit", type=int, default=1, help="Modbus unit id (default 1)")
    s.add_argument("--seconds", type=float, default=None, help="stop after seconds (default: Ctrl-C)")
    s.set_defaults(func=cmd_emulate)

"""Bring-up commands of the ``shelf-fusion`` CLI: from a port to a calibrated, running shelf.

``devices``, ``scan``, ``read``, ``zero``, ``tare``, ``calibrate``, ``stream``,
``record``, ``run`` and ``emulate`` (see docs/bring-up.md). Registered by
:mod:`shelf_fusion.cli` through :func:`add_parsers`; each command returns an
exit status and raises :class:`fusion.errors.ShelfFusionError` on bad input
or failing hardware (printed by the CLI as one line, exit status 2).
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

from fusion.errors import ShelfFusionError
from fusion.types import WEIGHT_DTYPE, SampleFlag


def _open(args, **kwargs):
    from drivers.registry import open_driver
    drv = open_driver(args.url, args.profile, **kwargs)
    drv.open()
    return drv


def _sample_json(s, t0: float) -> str:
    g = float(s["grams"])
    return json.dumps({"t": round(float(s["t"]) - t0, 4), "cell": int(s["cell"]),
                       "grams": None if math.isnan(g) else round(g, 3),
                       "stable": bool(s["flags"] & SampleFlag.STABLE)})


def _sample_text(s, t0: float) -> str:
    g = float(s["grams"])
    flags = SampleFlag(int(s["flags"]))
    what = "gap" if math.isnan(g) else f"{g:10.2f} g"
    tags = ",".join(f.name.lower() for f in SampleFlag if f and f in flags)
    return f"t={float(s['t']) - t0:8.3f}s  ch{int(s['cell'])}  {what}  {tags}"


def collect(drv, count: int, timeout_s: float) -> np.ndarray:
    """Read until ``count`` samples arrived or ``timeout_s`` passed (monotonic)."""
    out, n = [], 0
    deadline = time.monotonic() + timeout_s
    while n < count and time.monotonic() < deadline:
        s = drv.read()
        if len(s):
            out.append(s)
            n += len(s)
        else:
            time.sleep(0.01)
    return np.concatenate(out)[:count] if out else np.zeros(0, dtype=WEIGHT_DTYPE)


def cmd_devices(args) -> int:
    from serial.tools import list_ports
    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    if not ports:
        print("no serial ports found (is the USB adapter plugged in? see hardware/README.md)")
    for p in ports:
        print(f"{p.device:20s} {p.description or '-':35s} {p.hwid or ''}")
    import glob
    for link in sorted(glob.glob("/dev/serial/by-id/*")):
        print(f"  stable path: {link}")
    return 0


def _parse_units(text: str) -> list[int]:
    units: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise ValueError(f"--units {text!r}: give ids like 1-16 or 1,3,5") from None
        units += range(lo, hi + 1)
    return units


def cmd_scan(args) -> int:
    from drivers.registry import backend_for_url
    profiles = args.profile or None
    if backend_for_url(args.url) == "modbus":
        from drivers.scale_modbus import modbus_profiles, scan_modbus
        hits = scan_modbus(args.url, _parse_units(args.units), profiles or modbus_profiles(),
                           timeout_s=args.timeout)
        for h in hits:
            grams = ", ".join("gap" if math.isnan(g) else f"{g:.2f} g" for g in h.grams)
            print(f"unit {h.unit:3d}  profile {h.profile:15s} {grams}   {h.url}")
    else:
        from drivers.scale_serial import probe
        bauds = [int(b) for b in args.baud.split(",")] if args.baud else None
        hits = probe(args.url, profiles, bauds, timeout_s=args.timeout)
        for baud, name, info in hits:
            model = " ".join(x for x in (info.model, info.serial_number) if x) or "-"
            print(f"baud {baud:6d}  profile {name:15s} model {model}")
    if not hits:
        print(f"nothing answered at {args.url}")
        return 1
    return 0


def cmd_read(args) -> int:
    drv = _open(args)
    try:
        s = collect(drv, args.count, args.timeout)
    finally:
        drv.close()
    t0 = float(s["t"][0]) if len(s) else 0.0
    for row in s:
        print(_sample_json(row, t0) if args.json else _sample_text(row, t0))
    return 0 if len(s) == args.count else 1


def cmd_zero(args) -> int:
    drv = _open(args)
    try:
        collect(drv, 5, 2.0)  # software zero averages recent readings
        drv.zero()
        if _device_zero(drv):
            print(f"{args.url}: zeroed")
        else:
            print(f"{args.url}: zeroed in software only (profile {args.profile!r} has no zero "
                  "command): it ends with this command; use calibrate --write-store to keep it")
    finally:
        drv.close()
    return 0


def cmd_tare(args) -> int:
    drv = _open(args)
    try:
        collect(drv, 5, 2.0)
        tare_g = drv.tare()
        print(f"{args.url}: tared {tare_g:.2f} g")
    finally:
        drv.close()
    return 0


def _device_zero(drv) -> bool:
    """Whether the device itself keeps a zero (False: the driver zeroes in software)."""
    spec = getattr(drv, "spec", None)
    return getattr(spec, "zero_mode", "command") != "software"


def _device_span(drv) -> bool:
    """Whether the device itself stores a span calibration."""
    from drivers.scale_modbus import ModbusScaleDriver
    return isinstance(drv, ModbusScaleDriver) and "span" in drv.spec.commands


def _mean_g(drv, channel: int, settle_s: float) -> float:
    s = collect(drv, 10 ** 6, settle_s)
    g = s["grams"][(s["cell"] == channel) & ~np.isnan(s["grams"])]
    if not len(g):
        raise ShelfFusionError(f"{drv.url}: no valid reading on channel {channel} in "
                               f"{settle_s} s; check wiring and --profile")
    return float(np.mean(g))


def _prompt(text: str) -> None:
    if sys.stdin.isatty():
        input(f"{text} and press Enter... ")
    else:
        print(text)


def cmd_calibrate(args) -> int:
    if not args.known_grams > 0:
        raise ValueError(f"--known-grams must be > 0, got {args.known_grams}")
    if args.write_store and not args.cell:
        raise ValueError("--write-store needs --cell ID (the [[cell]] this channel weighs)")
    drv = _open(args)
    try:
        zero_g = 0.0
        if not args.no_zero:
            _prompt("empty the plate")
            zero_g = _mean_g(drv, args.channel, args.settle)
            if _device_zero(drv):  # the device keeps its zero: store only the residual
                drv.zero()
                zero_g = _mean_g(drv, args.channel, args.settle)
        _prompt(f"put the {args.known_grams:g} g mass on the plate")
        loaded_g = _mean_g(drv, args.channel, args.settle)
        if _device_span(drv) and not args.write_store:
            drv.calibrate_span(args.known_grams, channel=args.channel)
            after = _mean_g(drv, args.channel, args.settle)
            print(f"{args.url}: span calibrated on the device: {loaded_g:.2f} g -> {after:.2f} g")
            return 0
        if not args.write_store:
            raise ShelfFusionError(
                f"{args.url}: profile {args.profile!r} cannot store a span calibration; give "
                "--write-store store.toml --cell ID to keep the scale factor in store.toml")
        if abs(loaded_g - zero_g) < 1e-3 * args.known_grams:
            raise ShelfFusionError(f"{args.url}: the plate reads {loaded_g:.3f} g, as empty; "
                                   "is the mass on it?")
        scale = args.known_grams / (loaded_g - zero_g)
    finally:
        drv.close()
    from shelf_fusion.bringup_store import write_cell_calibration
    write_cell_calibration(args.write_store, args.cell, scale=scale, zero_g=zero_g, url=args.url)
    print(f"{args.url}: reads {loaded_g:.2f} g for {args.known_grams:g} g: scale {scale:.6f}, "
          f"zero {zero_g:.2f} g written to {args.write_store} [[controller]] cell {args.cell}")
    return 0


def add_parsers(sub) -> None:
    """Register the bring-up commands on the CLI's subparsers."""
    from shelf_fusion.bringup_live import add_live_parsers

    s = sub.add_parser("devices", help="list serial ports")
    s.set_defaults(func=cmd_devices)

    s = sub.add_parser("scan", help="find which baud rates / unit ids / profiles answer at URL")
    s.add_argument("url")
    s.add_argument("--profile", action="append", help="profile to try (repeatable; default: all)")
    s.add_argument("--baud", default=None, help="serial: baud rates to try, e.g. 9600,115200")
    s.add_argument("--units", default="1-16", help="Modbus unit ids, e.g. 1-16 or 1,5 (default 1-16)")
    s.add_argument("--timeout", type=float, default=0.3, help="seconds per attempt (default 0.3)")
    s.set_defaults(func=cmd_scan)

    def device(name: str, help_: str):
        p = sub.add_parser(name, help=help_)
        p.add_argument("url", help="device URL: /dev/ttyUSB0, modbus-tcp://host:502?unit=1, ...")
        p.add_argument("--profile", required=True, help="protocol profile (hardware/*.toml)")
        return p

    s = device("read", "print samples from one controller")
    s.add_argument("--count", type=int, default=10, help="samples to print (default 10)")
    s.add_argument("--json", action="store_true", help="one JSON object per sample per line")
    s.add_argument("--timeout", type=float, default=10.0, help="give up after seconds (default 10)")
    s.set_defaults(func=cmd_read)

    device("zero", "zero the controller (empty plate)").set_defaults(func=cmd_zero)
    device("tare", "tare the current load").set_defaults(func=cmd_tare)

    s = device("calibrate", "zero and span-calibrate with a known mass")
    s.add_argument("--known-grams", type=float, required=True, help="calibration mass (g)")
    s.add_argument("--channel", type=int, default=0, help="controller channel (default 0)")
    s.add_argument("--write-store", default=None, metavar="STORE_TOML",
                   help="keep the scale factor in this store.toml's [[controller]] table")
    s.add_argument("--cell", default=None, help="with --write-store: the [[cell]] id")
    s.add_argument("--no-zero", action="store_true", help="skip zeroing (plate already zeroed)")
    s.add_argument("--settle", type=float, default=1.0, help="seconds averaged per step (default 1)")
    s.set_defaults(func=cmd_calibrate)

    add_live_parsers(sub, device)

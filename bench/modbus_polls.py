"""Modbus RTU bus throughput: polls/s achieved vs the physical limit of the line.

Two emulated transmitters on one real pseudo-terminal whose replies are paced
like a real RS-485 line at 115200 baud (8N2: 11-bit characters, as 8E1), and
the same over Modbus TCP on 127.0.0.1. Rates are set far above the limit so
the scheduler runs flat out; the limit is `drivers.modbus_bus`'s line-timing
calculation for the same request mix.

    python -m bench.modbus_polls [--seconds 3]
"""

from __future__ import annotations

import argparse

from drivers.modbus.links import RtuLink, open_link
from drivers.modbus_bus import BusScheduler
from drivers.scale_modbus import ModbusScaleDriver
from drivers.scale_modbus_emu import EmulatedScale, RtuPtyEmulator, TcpEmulator


def rtu(profile: str, seconds: float) -> str:
    models = {1: EmulatedScale(profile, script=[(0.0, 100.0)]), 2: EmulatedScale(profile, script=[(0.0, 200.0)])}
    with RtuPtyEmulator(models, line_baud=115200) as emu:
        link = RtuLink(emu.port, baud=115200, parity="N", stop_bits=2, timeout_s=1.0)
        bus = BusScheduler(link)
        for unit in (1, 2):
            bus.add(ModbusScaleDriver(emu.url(unit, baud=115200, parity="N") + "&stop=2", profile=profile,
                                      link=link, channel_cells=[unit]), 1000.0)
        with bus:
            bus.run_for(seconds)
        s = bus.stats()
    return (f"| RTU 115200 8N2, 2 units | {profile} | {s.achieved_polls_per_s:.0f} | "
            f"{s.limit_polls_per_s:.0f} | {s.achieved_polls_per_s / s.limit_polls_per_s:.2f} | {s.failures} |")


def tcp(profile: str, seconds: float) -> str:
    models = {1: EmulatedScale(profile, script=[(0.0, 100.0)]), 2: EmulatedScale(profile, script=[(0.0, 200.0)])}
    with TcpEmulator(models) as emu:
        url = emu.url(1)
        link = open_link(url, timeout_s=1.0)
        bus = BusScheduler(link)
        for unit in (1, 2):
            bus.add(ModbusScaleDriver(emu.url(unit), profile=profile, link=link, channel_cells=[unit]), 5000.0)
        with bus:
            bus.run_for(seconds)
        s = bus.stats()
    return f"| TCP loopback, 2 units | {profile} | {s.achieved_polls_per_s:.0f} | (no line limit) | | {s.failures} |"


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args(argv)
    rows = ["| transport | profile | achieved polls/s | line limit polls/s | achieved / limit | failures |",
            "|---|---|---|---|---|---|"]
    for profile in ("generic-rs485", "flintec-ft11", "laumas-w100"):
        rows.append(rtu(profile, args.seconds))
    rows.append(tcp("generic-rs485", args.seconds))
    text = "\n".join(rows)
    print(text)
    return text


if __name__ == "__main__":
    main()

"""Emulated controllers for bring-up practice, demos and tests.

:func:`start_emulator` starts the emulator matching a profile -- a serial
profile on a pseudo-terminal (:class:`drivers.scale_serial_emu.PtySerialEmulator`)
or a Modbus profile on a TCP server on 127.0.0.1
(:class:`drivers.scale_modbus_emu.TcpEmulator`) -- fed by a constant load or by
the store simulator's load-cell model (:mod:`fusion.sim.loadcell`) of the
first cells of a simulator scenario, and returns it with the URL to open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class RunningEmulator:
    """An emulator that is serving.

    Attributes:
        url: what to pass to ``shelf-fusion read`` / the drivers.
        profile: profile name.
        channels: channels the emulator serves.
        emulator: the emulator object (``stop()`` ends it).
    """

    url: str
    profile: str
    channels: int
    emulator: object

    def stop(self) -> None:
        self.emulator.stop()


def _is_modbus(profile: str) -> bool:
    from drivers.registry import load_profile
    return load_profile(profile).get("protocol") == "modbus"


def scenario_signal(scenario: str, channels: int, seed: int = 0) -> Callable[[float], object]:
    """``signal(t_s)`` giving the simulator's plate readings of the first cells of ``scenario``.

    Each call draws fresh noise from the cell's :class:`LoadCellModel`; the
    true load follows the scenario's planned takes and returns (``t_s`` is
    seconds since the emulator started, on the scenario's clock).
    """
    from fusion.sim.loadcell import sample_signal
    from fusion.sim.simulate import prepare
    _, layout, plan = prepare(scenario, seed)
    n = min(channels, len(layout.models))
    models, timelines = layout.models[:n], plan.timelines[:n]
    rng = np.random.default_rng(seed)

    def signal(t_s: float):
        t = np.array([t_s])
        vals = [float(sample_signal(m, tl, t, rng)[0]) for m, tl in zip(models, timelines,
                                                                          strict=True)]
        vals += [vals[-1]] * (channels - n)
        vals = [v if v == v else 0.0 for v in vals]  # the sim's rare invalid readings
        return vals[0] if channels == 1 else vals
    return signal


def start_emulator(profile: str, *, scenario: str | None = None, grams: float = 1000.0,
                   seed: int = 0, unit: int = 1, noise_g: float | None = None) -> RunningEmulator:
    """Start an emulator speaking ``profile``.

    Args:
        profile: a serial or Modbus profile in ``hardware/``.
        scenario: simulator preset whose first cells feed the channels; ``None``
            for a constant ``grams`` on every channel.
        grams: constant load (g) when no scenario is given.
        seed: random seed of noise and scenario.
        unit: Modbus unit id.
        noise_g: noise standard deviation of serial emulators (g); default the profile's.
    """
    if _is_modbus(profile):
        from drivers.modbus.profile import get_profile
        from drivers.scale_modbus_emu import EmulatedScale, TcpEmulator
        n = get_profile(profile).channels
        sig = scenario_signal(scenario, n, seed) if scenario else (
            lambda t: grams if n == 1 else [grams] * n)
        srv = TcpEmulator({unit: EmulatedScale(profile, signal=sig)})
        srv.start()
        return RunningEmulator(srv.url(unit), profile, n, srv)
    from drivers.scale_serial_emu import PtySerialEmulator
    from drivers.serial.profile import get_profile as serial_profile
    n = serial_profile(profile).channels
    sig = scenario_signal(scenario, n, seed) if scenario else (
        lambda t: grams if n == 1 else [grams] * n)
    emu = PtySerialEmulator(profile, signal=sig, noise_g=noise_g, seed=seed)
    emu.start()
    return RunningEmulator(emu.port, profile, n, emu)

"""Device behaviour behind :class:`drivers.scale_serial_emu.PtySerialEmulator`.

Two logics, chosen by the profile's ``kind``:

* :class:`CommandLogic` -- an MT-SICS level 0/1 balance: answers each
  command line, streams on ``SIR`` until the next command.
* :class:`StreamLogic` -- an HX711 board: prints a line per conversion at the
  mode's rate (10 SPS mode ~11.5 Hz, 80 SPS mode ~92 Hz) and reacts to the
  profile's zero command character.

Both read the weight from a *signal*: ``signal(t_s)`` -> grams, a float or one
value per channel. Reply formats and defaults come from the profile's
``[emulator]`` table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from drivers.serial.profile import SerialProfile

#: A weight source: seconds since the emulator started -> grams (scalar or per channel).
Signal = Callable[[float], "float | Sequence[float] | np.ndarray"]


def step_signal(script: Sequence[tuple[float, float | Sequence[float]]]) -> Signal:
    """A piecewise-constant signal from ``[(t_s, grams or [grams per channel]), ...]``.

    Before the first step the first value holds. Times must not decrease.
    """
    if not script:
        raise ValueError("script must have at least one (t_s, grams) step")
    times = np.array([float(t) for t, _ in script])
    if np.any(np.diff(times) < 0):
        raise ValueError("script times must not decrease")
    values = [np.atleast_1d(np.asarray(v, dtype=float)) for _, v in script]

    def signal(t: float) -> np.ndarray:
        i = max(int(np.searchsorted(times, t, side="right")) - 1, 0)
        return values[i]

    return signal


class _Base:
    """Shared state: signal, noise, zero/tare, stuck value."""

    def __init__(self, profile: SerialProfile, signal: Signal, *, noise_g: float, seed: int):
        self.profile = profile
        self.emu = profile.emulator
        self.channels = profile.channels
        self.signal = signal
        self.noise_g = float(noise_g)
        self.rng = np.random.default_rng(seed)
        self.zero_g = np.zeros(self.channels)
        self.tare_g = np.zeros(self.channels)
        self.stuck: np.ndarray | None = None

    def true_g(self, t: float) -> np.ndarray:
        """(channels,) noiseless gross grams from the signal."""
        v = np.atleast_1d(np.asarray(self.signal(t), dtype=float))
        if v.size == 1:
            return np.full(self.channels, float(v[0]))
        if v.size != self.channels:
            raise ValueError(f"signal returned {v.size} values for {self.channels} channels")
        return v

    def gross_g(self, t: float) -> np.ndarray:
        """(channels,) gross grams as the ADC sees them (noise, stuck fault)."""
        if self.stuck is not None:
            return self.stuck
        g = self.true_g(t)
        if self.noise_g > 0:
            g = g + self.rng.normal(0.0, self.noise_g, self.channels)
        return g

    def set_stuck(self, on: bool, t: float) -> None:
        self.stuck = self.gross_g(t).copy() if on else None


class CommandLogic(_Base):
    """An MT-SICS level 0/1 balance (one channel)."""

    def __init__(self, profile: SerialProfile, signal: Signal, *, noise_g: float = 0.0,
                 seed: int = 0):
        super().__init__(profile, signal, noise_g=noise_g, seed=seed)
        self.sir = False
        self.next_sir_t = 0.0
        self.rate_hz = profile.poll_rate_hz
        self.capacity_g = float(self.emu.get("capacity_g", 6200.0))
        self.zero_range_g = float(self.emu.get("zero_range_g", 0.02 * self.capacity_g))
        self.decimals = int(self.emu.get("decimals", 2))
        self.width = int(self.emu.get("value_width", 10))

    def _fmt(self, grams: float) -> str:
        return f"{grams:.{self.decimals}f}".rjust(self.width)

    def _stable(self, t: float) -> bool:
        if self.stuck is not None:
            return True
        window = float(self.emu.get("stable_window_s", 0.3))
        band = float(self.emu.get("stable_band_g", 0.5))
        return bool(abs(self.true_g(t)[0] - self.true_g(t - window)[0]) < band)

    def weight_reply(self, t: float, need_stable: bool) -> str:
        """Reply to S/SI/SIR: ``S S|D <value> g``, or ``S I``/``S +``/``S -``."""
        above_zero = self.gross_g(t)[0] - self.zero_g[0]
        if above_zero > self.capacity_g:
            return "S +"
        if above_zero < -self.zero_range_g:
            return "S -"
        stable = self._stable(t)
        if need_stable and not stable:
            return "S I"
        net = above_zero - self.tare_g[0]
        return f"S {'S' if stable else 'D'} {self._fmt(net)} g"

    def on_command(self, cmd: str, t: float) -> list[str]:
        """Replies (without CR LF) to one received command line."""
        if cmd != "SIR":
            self.sir = False
        name, _, arg = cmd.partition(" ")
        handler = getattr(self, "_cmd_" + {"@": "reset"}.get(name, name), None)
        if handler is None or (arg and name != "TA"):
            return ["ES"]
        return handler(t, arg)

    def _cmd_S(self, t, arg):
        return [self.weight_reply(t, True)]

    def _cmd_SI(self, t, arg):
        return [self.weight_reply(t, False)]

    def _cmd_SIR(self, t, arg):
        self.sir, self.next_sir_t = True, t
        return []

    def _zero_check(self, t: float, name: str) -> str | None:
        offset = self.gross_g(t)[0]
        if offset > self.zero_range_g:
            return f"{name} +"
        if offset < -self.zero_range_g:
            return f"{name} -"
        return None

    def _cmd_Z(self, t, arg):
        if not self._stable(t):
            return ["Z I"]
        refused = self._zero_check(t, "Z")
        if refused:
            return [refused]
        self.zero_g[:] = self.gross_g(t)
        self.tare_g[:] = 0.0
        return ["Z A"]

    def _cmd_ZI(self, t, arg):
        refused = self._zero_check(t, "ZI")
        if refused:
            return [refused]
        stable = self._stable(t)
        self.zero_g[:] = self.gross_g(t)
        self.tare_g[:] = 0.0
        return [f"ZI {'S' if stable else 'D'}"]

    def _cmd_T(self, t, arg):
        if not self._stable(t):
            return ["T I"]
        load = self.gross_g(t)[0] - self.zero_g[0]
        if load > self.capacity_g:
            return ["T +"]
        if load < -self.zero_range_g:
            return ["T -"]
        self.tare_g[0] = load
        return [f"T S {self._fmt(load)} g"]

    def _cmd_TA(self, t, arg):
        if arg:
            value, _, unit = arg.partition(" ")
            try:
                grams = float(value) * self.profile.units[unit]
            except (ValueError, KeyError):
                return ["EL"]
            self.tare_g[0] = grams
        return [f"TA A {self._fmt(self.tare_g[0])} g"]

    def _cmd_TAC(self, t, arg):
        self.tare_g[:] = 0.0
        return ["TAC A"]

    def _cmd_reset(self, t, arg):
        self.tare_g[:] = 0.0
        return [f'I4 A "{self.emu.get("serial_number", "0")}"']

    def _cmd_I0(self, t, arg):
        cmds = [("0", c) for c in ("I0", "I1", "I2", "I3", "I4", "S", "SI", "SIR", "Z", "ZI", "@")]
        cmds += [("1", c) for c in ("T", "TA", "TAC")]
        lines = [f'I0 B {lvl} "{c}"' for lvl, c in cmds]
        return lines[:-1] + [lines[-1].replace("I0 B", "I0 A", 1)]

    def _cmd_I1(self, t, arg):
        return [f"I1 A {self.emu.get('level', '')}"]

    def _cmd_I2(self, t, arg):
        return [f'I2 A "{self.emu.get("model", "")}"']

    def _cmd_I3(self, t, arg):
        return [f'I3 A "{self.emu.get("software", "")}"']

    def _cmd_I4(self, t, arg):
        return [f'I4 A "{self.emu.get("serial_number", "")}"']

    def due_lines(self, t: float) -> list[str]:
        """Lines to send unasked at time ``t`` (SIR repeats)."""
        if not self.sir or t < self.next_sir_t:
            return []
        self.next_sir_t = max(self.next_sir_t + 1.0 / self.rate_hz, t)
        return [self.weight_reply(t, False)]

    def next_due(self) -> float | None:
        return self.next_sir_t if self.sir else None


class StreamLogic(_Base):
    """An HX711 board printing one line per conversion."""

    def __init__(self, profile: SerialProfile, signal: Signal, *, rate_hz: float,
                 noise_g: float, seed: int = 0):
        super().__init__(profile, signal, noise_g=noise_g, seed=seed)
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0 Hz, got {rate_hz}")
        self.rate_hz = float(rate_hz)
        self.next_t = 0.0
        self.unit = str(self.emu.get("unit", profile.default_unit))
        self.per_g = 1.0 / (profile.units[self.unit] * profile.scale)
        self.decimals = int(self.emu.get("decimals", 2))
        self.template = str(self.emu["line"])
        zero = profile.commands.get("zero")
        self.zero_char = zero.send if zero is not None else None
        self.zero_reply = str(self.emu.get("zero_reply", "Tare complete"))
        self.pending: list[tuple[float, str]] = []

    def on_command(self, cmd: str, t: float) -> list[str]:
        """React to received characters (the zero command); replies come later."""
        if self.zero_char and self.zero_char in cmd:
            self.zero_g[:] = self.true_g(t)
            self.tare_g[:] = 0.0
            self.pending.append((t + float(self.emu.get("tare_delay_s", 0.2)), self.zero_reply))
        return []

    def format_line(self, t: float, elapsed_s: float) -> str:
        net = (self.gross_g(t) - self.zero_g - self.tare_g - self.profile.offset_g) * self.per_g
        fields = {f"v{i}": f"{v:.{self.decimals}f}" for i, v in enumerate(net)}
        return self.template.format(ms=int(elapsed_s * 1000), unit=self.unit, **fields)

    def due_lines(self, t: float) -> list[str]:
        out = [text for due, text in self.pending if due <= t]
        self.pending = [(due, text) for due, text in self.pending if due > t]
        if t >= self.next_t:
            self.next_t = max(self.next_t + 1.0 / self.rate_hz, t - 1.0 / self.rate_hz)
            out.append(self.format_line(t, t))
        return out

    def next_due(self) -> float | None:
        return min([self.next_t] + [due for due, _ in self.pending])

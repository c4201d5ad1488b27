"""The register model of an emulated Modbus weighing controller.

:class:`EmulatedScale` turns "grams on the plate" (a script of steps or any
signal callable ``t -> grams per channel``) into the registers a real
controller of a given ``hardware/`` profile would show, executes the
profile's commands (zero, tare, span, ...) written to it, and holds the
faults to inject. The transports in :mod:`drivers.scale_modbus_emu` put it on
a pty (Modbus RTU) or behind a pymodbus TCP server.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from drivers.modbus.profile import TYPE_WORDS, ModbusProfile, get_profile

#: A load signal: store time (s) -> grams (a scalar or one value per channel).
Signal = Callable[[float], "float | Sequence[float] | np.ndarray"]

FAULT_KINDS = ("no_reply", "garbage", "bad_crc", "exception", "stuck")


def _lowest_bit(mask: int) -> int:
    return mask & -mask


class EmulatedScale:
    """One emulated controller (one unit; one or more channels).

    Args:
        profile: profile name, path or :class:`ModbusProfile`.
        channels: number of channels (default: the profile's).
        signal: ``t -> grams`` (scalar or per channel); ``t`` is
            ``clock() - t_origin_s``. Any callable (e.g. a simulator's).
        script: alternatively, ``[(t_s, grams), ...]`` steps: the load is the
            last step with ``t_s <= t``.
        clock: seconds (default ``time.monotonic``).
        t_origin_s: time origin of ``signal``/``script`` (default: now; 0 gives
            the raw clock).
        decimals: decimals the device shows (default: 1 when the profile reads
            them from status, else the profile's fixed value).
        capacity_g: above this gross the device reports overload.
        stable_band_g: steadier than this over ``settle_s`` means stable.
    """

    def __init__(self, profile, *, channels: int | None = None, signal: Signal | None = None,
                 script: Sequence[tuple[float, float | Sequence[float]]] | None = None,
                 clock: Callable[[], float] | None = None, t_origin_s: float | None = None,
                 decimals: int | None = None, capacity_g: float = 1e6,
                 stable_band_g: float = 1.0, settle_s: float = 0.2):
        if signal is not None and script is not None:
            raise ValueError("give a signal or a script, not both")
        self.spec: ModbusProfile = get_profile(profile)
        self.n = int(channels or self.spec.channels)
        self.clock = clock or time.monotonic
        self.t_origin_s = self.clock() if t_origin_s is None else t_origin_s
        self._script = sorted(script or [(0.0, 0.0)], key=lambda s: s[0])
        self._signal = signal
        self.decimals = decimals if decimals is not None else (
            1 if self.spec.decimals_mask else self.spec.decimals)
        self.capacity_g, self.stable_band_g, self.settle_s = capacity_g, stable_band_g, settle_s
        self.zero_g = np.zeros(self.n)
        self.tare_g = np.zeros(self.n)
        self.gain = np.ones(self.n)
        self.unlocked = False
        self.lock = threading.RLock()
        self._faults: list[list] = []  # [kind, remaining or None, code]
        self._stuck: dict[int, int] | None = None
        self._known: dict[int, int] = {}
        self.requests = 0
        self.top_address = self._top_address()

    # -- load ----------------------------------------------------------------
    def load_g(self, t: float) -> np.ndarray:
        """(channels,) grams on the plates at time ``t`` (s since the origin)."""
        if self._signal is not None:
            v = self._signal(t)
        else:
            v = self._script[0][1]
            for t_i, g in self._script:
                if t_i > t:
                    break
                v = g
        return np.broadcast_to(np.asarray(v, dtype=float), (self.n,)).copy()

    def set_script(self, script: Sequence[tuple[float, float | Sequence[float]]]) -> None:
        """Replace the load script (times relative to the origin)."""
        with self.lock:
            self._signal, self._script = None, sorted(script, key=lambda s: s[0])

    def gross_g(self, t: float | None = None) -> np.ndarray:
        """(channels,) gross grams the device reports now (or at ``t``)."""
        t = self.clock() - self.t_origin_s if t is None else t
        return (self.load_g(t) - self.zero_g) * self.gain

    # -- faults --------------------------------------------------------------
    def inject(self, kind: str, *, count: int | None = 1, code: int = 4) -> None:
        """Misbehave on the next ``count`` requests (None: until :meth:`clear_faults`).

        Kinds: ``no_reply``, ``garbage`` (random bytes instead of the reply),
        ``bad_crc`` (reply with a wrong CRC; on TCP a corrupt header),
        ``exception`` (Modbus exception ``code``), ``stuck`` (registers frozen
        at their current values).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {kind!r} not in {FAULT_KINDS}")
        with self.lock:
            if kind == "stuck":
                self._stuck = self._image()
            self._faults.append([kind, count, code])

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._stuck = None

    def take_fault(self) -> tuple[str, int] | None:
        """The fault for this request (``(kind, code)``) or None; counts it down."""
        with self.lock:
            self.requests += 1
            for f in self._faults:
                if f[0] == "stuck":
                    continue
                if f[1] is not None:
                    f[1] -= 1
                    if f[1] <= 0:
                        self._faults.remove(f)
                return f[0], f[2]
            return None

    # -- registers -----------------------------------------------------------
    def _top_address(self) -> int:
        top = 0
        for spec in self.spec.registers.values():
            top = max(top, spec.address + spec.words)
        for steps in self.spec.commands.values():
            for s in steps:
                top = max(top, s.address + TYPE_WORDS[s.type])
        return top + self.spec.channel_stride * (self.n - 1)

    def _status_word(self, gross: float, net: float, stable: bool, dec: int) -> int:
        st, spec = 0, self.spec.status
        over, err = gross > self.capacity_g, not np.isfinite(gross)
        under = gross < -self.capacity_g
        if spec["unstable"] and not stable:
            st |= spec["unstable"]
        if spec["stable"] and stable:
            st |= spec["stable"]
        if spec["ok"] and not (over or under or err):
            st |= spec["ok"]
        for bad, name in ((over, "overload"), (under, "underload"), (err, "error")):
            if not bad:
                continue
            if spec[name]:
                st |= _lowest_bit(spec[name])
            elif spec["error_code_mask"]:
                code = min((c for c, n in self.spec.error_codes.items() if n == name), default=1)
                st |= code * _lowest_bit(spec["error_code_mask"])
            elif spec["overload"]:  # no better bit: the nearest thing the device shows
                st |= _lowest_bit(spec["overload"])
        if self.spec.decimals_mask:
            st |= (dec * _lowest_bit(self.spec.decimals_mask)) & self.spec.decimals_mask
        if spec["gross_negative"] and gross < 0:
            st |= spec["gross_negative"]
        if spec["net_negative"] and net < 0:
            st |= spec["net_negative"]
        return st & 0xFFFF

    def _counts(self, name: str, grams: float) -> list[int]:
        type_ = self.spec.registers[name].type
        c = round(grams / self.spec.unit_g * 10 ** self.decimals) if np.isfinite(grams) else 0
        if type_.startswith("uint"):
            c = abs(c)
        bits = 16 * TYPE_WORDS[type_]
        lim = (1 << (bits - 1)) - 1 if type_.startswith("int") else (1 << bits) - 1
        return self.spec.encode(type_, int(np.clip(c, -lim - 1, lim)))

    def _image(self) -> dict[int, int]:
        """Address -> register value of everything mapped, now."""
        t = self.clock() - self.t_origin_s
        gross = self.gross_g(t)
        earlier = (self.load_g(t - self.settle_s) - self.zero_g) * self.gain
        image: dict[int, int] = {}
        for ch in range(self.n):
            net = gross[ch] - self.tare_g[ch]
            stable = abs(gross[ch] - earlier[ch]) < self.stable_band_g
            values = {"gross": gross[ch], "net": net, "tare": self.tare_g[ch],
                      "display": net if self.tare_g[ch] else gross[ch]}
            for name, spec in self.spec.registers.items():
                a = self.spec.address(name, ch)
                if name == "status":
                    words = [self._status_word(gross[ch], net, stable, self.decimals)]
                elif name in values:
                    words = self._counts(name, values[name])
                else:
                    words = [0] * spec.words
                image.update(zip(range(a, a + len(words)), words, strict=True))
        return image

    def read(self, address: int, count: int) -> list[int] | int:
        """Registers ``address .. address+count-1``, or an exception code."""
        with self.lock:
            if address < 0 or count < 1 or address + count > self.top_address:
                return 2
            image = self._stuck if self._stuck is not None else self._image()
            return [image.get(a, 0) for a in range(address, address + count)]

    def write(self, address: int, values: Sequence[int]) -> int | None:
        """Write registers; runs the command they form. Returns an exception code or None."""
        with self.lock:
            for ch in range(self.n):
                for name, steps in self.spec.commands.items():
                    for i, step in enumerate(steps):
                        a = step.address + ch * self.spec.channel_stride
                        if a != address or len(values) != TYPE_WORDS[step.type]:
                            continue
                        value = self.spec.decode_type(step.type, list(values))
                        if step.value != "known" and value != step.value:
                            continue
                        if step.value == "known":
                            self._known[ch] = value
                        if name == "unlock" or (step.value == 0x5AA5 and i < len(steps) - 1):
                            self.unlocked = True
                        if i == len(steps) - 1:
                            return self._execute(name, ch)
                        return None
            return self._write_register(address, values)

    def _write_register(self, address: int, values: Sequence[int]) -> int | None:
        for ch in range(self.n):
            if "tare" in self.spec.registers and address == self.spec.address("tare", ch):
                tare = self.spec.decode("tare", list(values))
                self.tare_g[ch] = tare * self.spec.unit_g / 10 ** self.decimals
                return None
        command_addresses = {s.address + ch * self.spec.channel_stride
                             for steps in self.spec.commands.values() for s in steps
                             for ch in range(self.n)}
        return 3 if address in command_addresses else 2

    def _execute(self, name: str, ch: int) -> int | None:
        t = self.clock() - self.t_origin_s
        load = self.load_g(t)[ch]
        if name == "zero":
            self.zero_g[ch] = load
        elif name == "tare":
            self.tare_g[ch] = (load - self.zero_g[ch]) * self.gain[ch]
        elif name == "clear_tare":
            self.tare_g[ch] = 0.0
        elif name == "span":
            if "unlock" in self.spec.commands and not self.unlocked:
                return 4
            known_g = self._known.pop(ch, 0) * self.spec.unit_g / 10 ** self.decimals
            raw = load - self.zero_g[ch]
            if known_g <= 0 or abs(raw) < 1e-9:
                return 3
            self.gain[ch] = known_g / raw
        return None

    # -- PDU level (used by the RTU transport) --------------------------------
    def handle_pdu(self, pdu: bytes) -> bytes:
        """Execute a request PDU; return the reply PDU (possibly an exception)."""
        if not pdu:
            return b""
        fn = pdu[0]
        if fn in (3, 4) and len(pdu) == 5:
            address, count = struct.unpack(">HH", pdu[1:5])
            if not 1 <= count <= 125:
                return bytes([fn | 0x80, 3])
            r = self.read(address, count)
            if isinstance(r, int):
                return bytes([fn | 0x80, r])
            return struct.pack(f">BB{count}H", fn, 2 * count, *r)
        if fn == 6 and len(pdu) == 5:
            address, value = struct.unpack(">HH", pdu[1:5])
            r = self.write(address, [value])
            return bytes([fn | 0x80, r]) if r else pdu
        if fn == 16 and len(pdu) >= 6:
            address, count, nbytes = struct.unpack(">HHB", pdu[1:6])
            if nbytes != 2 * count or len(pdu) != 6 + nbytes or not 1 <= count <= 123:
                return bytes([fn | 0x80, 3])
            r = self.write(address, list(struct.unpack(f">{count}H", pdu[6:])))
            return bytes([fn | 0x80, r]) if r else pdu[:5]
        return bytes([(fn | 0x80) & 0xFF, 1])

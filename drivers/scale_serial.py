"""Serial load-cell controllers (MT-SICS balances, HX711 boards), driven by a profile.

One :class:`SerialScaleDriver` speaks every protocol described by a serial
profile in ``hardware/`` (see :mod:`drivers.serial.profile`). The URL is any
pyserial URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``,
``rfc2217://host:port``, ``loop://``), opened with ``serial.serial_for_url``.

After :meth:`~SerialScaleDriver.open`, one background thread owns the port
(:class:`drivers.serial.link.SerialLink`): it polls (``command`` profiles,
e.g. ``SI`` at ``rate_hz``) or listens (``stream`` profiles, or MT-SICS
``SIR`` with ``stream=True``), stamps each line with the driver clock when it
arrives, and queues the samples; :meth:`~SerialScaleDriver.read` returns
everything queued since the last call. Commands (zero, tare, identify) go
through the same thread, so there is only ever one command on the wire.

Robustness: reply deadlines use the monotonic clock; a line that does not
parse becomes a NaN sample flagged ERROR and a :class:`ProtocolError` (raised
by the next ``read()`` when ``strict``); a lost connection is reopened with
exponential backoff. Each outage is recorded in :attr:`gaps` and as one NaN
sample per channel flagged GAP; samples before and after it are kept.

Zero, tare and span are the device's commands when the profile has them
(MT-SICS ``Z``, ``T``; HX711_ADC ``t``), otherwise done in software here:
``grams = (raw - zero_g) * span - tare_g`` per channel (see :attr:`calibration`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import serial

from drivers.base import Clock, DeviceInfo, LoadCellDriver
from drivers.errors import DeviceNotFoundError, DeviceTimeoutError, DriverError, ProtocolError
from drivers.registry import HARDWARE_DIR
from drivers.serial.link import READ_SLICE_S, SerialLink
from drivers.serial.profile import SerialProfile, get_profile
from fusion.types import WEIGHT_DTYPE

log = logging.getLogger(__name__)

#: Window over which "the current weight" is averaged for software zero/tare/span (s).
SETTLE_WINDOW_S = 0.5


class SerialScaleDriver(LoadCellDriver):
    """A load-cell controller on a serial line, speaking a ``hardware/`` profile.

    Args:
        url: pyserial URL of the port.
        profile: profile name (``"mt-sics"``, ``"hx711-adc"``...), TOML path, or a
            :class:`~drivers.serial.profile.SerialProfile`.
        channel_cells: store cell index of each channel (default 0..n-1).
        timeout_s: reply timeout and "no data" limit, seconds (monotonic).
        clock: store clock, seconds; stamps samples on arrival.
        baud: baud rate (default: the profile's).
        rate_hz: poll rate of ``command`` profiles (default: the profile's).
        stream: for ``command`` profiles, stream with the profile's
            ``stream_command`` (MT-SICS ``SIR``) instead of polling.
        strict: ``read()`` raises the first :class:`ProtocolError` or device
            error seen since the last call (samples are kept for the next call).
        reconnect_backoff_s: (first, max) wait between reopen attempts, seconds.
        calibration: software calibration from :attr:`calibration` to restore.
        opener: ``opener(url, **pyserial_kwargs)`` returning an open pyserial
            port (default ``serial.serial_for_url``); for tests and adapters.
    """

    def __init__(self, url: str, *, profile: str | SerialProfile = "mt-sics",
                 channel_cells: Sequence[int] | None = None, timeout_s: float = 1.0,
                 clock: Clock | None = None, baud: int | None = None,
                 rate_hz: float | None = None, stream: bool = False, strict: bool = True,
                 reconnect_backoff_s: tuple[float, float] = (0.05, 2.0),
                 calibration: Mapping[str, Sequence[float]] | None = None,
                 opener: Callable[..., serial.SerialBase] | None = None):
        name = profile.name if isinstance(profile, SerialProfile) else str(profile)
        super().__init__(url, profile=name, channel_cells=channel_cells, timeout_s=timeout_s,
                         clock=clock)
        if rate_hz is not None and rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0 Hz, got {rate_hz}")
        if not 0 < reconnect_backoff_s[0] <= reconnect_backoff_s[1]:
            raise ValueError(f"reconnect_backoff_s must be 0 < first <= max, got {reconnect_backoff_s}")
        self._profile_arg = profile
        self._baud_arg = baud
        self._rate_arg = rate_hz
        self.stream = bool(stream)
        self.strict = bool(strict)
        self.reconnect_backoff_s = (float(reconnect_backoff_s[0]), float(reconnect_backoff_s[1]))
        self._calibration_arg = dict(calibration) if calibration else None
        self._opener = opener or serial.serial_for_url
        self.spec: SerialProfile | None = None
        self._info: DeviceInfo | None = None
        self._lock = threading.Lock()
        self._link: SerialLink | None = None

    # ------------------------------------------------------------- lifecycle
    @property
    def baud(self) -> int:
        """Baud rate in use (the profile's unless given)."""
        if self._baud_arg is not None:
            return int(self._baud_arg)
        return self.spec.baud if self.spec else 0

    def _open(self) -> None:
        self.spec = spec = get_profile(self._profile_arg)
        n = spec.channels
        cells = self.channel_cells if self.channel_cells is not None else tuple(range(n))
        if len(cells) != n:
            raise ValueError(f"{self.url}: profile {spec.name!r} has {n} channels but "
                             f"channel_cells has {len(cells)}")
        self._cells = tuple(int(c) for c in cells)
        self._init_state(n)
        self._link = SerialLink(
            self.url, spec, baud=self.baud, timeout_s=self.timeout_s,
            rate_hz=self._rate_arg or spec.poll_rate_hz, stream=self.stream,
            backoff_s=self.reconnect_backoff_s, opener=self._opener, clock=self.clock,
            gaps=self.gaps, on_values=self._on_values, on_error=self._on_error)
        self._link.start()
        try:
            self._identify()
        except BaseException:
            self._link.stop()
            raise
        self._link.go_live()

    def _init_state(self, n: int) -> None:
        cal = self._calibration_arg or {}
        self._zero_g = np.array(cal.get("zero_g", [0.0] * n), dtype=float)
        self._span = np.array(cal.get("span", [1.0] * n), dtype=float)
        self._tare_g = np.array(cal.get("tare_g", [0.0] * n), dtype=float)
        if not (self._zero_g.shape == self._span.shape == self._tare_g.shape == (n,)):
            raise ValueError(f"{self.url}: calibration needs {n} values per key")
        self._recent: list[deque] = [deque(maxlen=256) for _ in range(n)]
        self._rows: list[tuple] = []
        self._errors: list[Exception] = []

    def _identify(self) -> None:
        spec = self.spec
        fields: dict[str, str] = {}
        if spec.identify:
            first, *rest = spec.identify
            try:
                fields[first] = self._command(first, timeout_s=self.timeout_s).get("text", "")
            except (DeviceTimeoutError, ProtocolError, DriverError) as e:
                raise DeviceNotFoundError(
                    f"{self.url}: no {spec.name} device answers at {self.baud} baud "
                    f"({e}); check wiring, baud rate and profile") from None
            for name in rest:
                try:
                    fields[name] = self._command(name, timeout_s=self.timeout_s).get("text", "")
                except DriverError as e:
                    log.debug("%s: optional identify command %s failed: %s", self.url, name, e)
        elif not self._wait_first_line():
            raise DeviceNotFoundError(
                f"{self.url}: no valid {spec.name} line within {self.timeout_s} s at {self.baud} "
                "baud; check wiring, baud rate and profile")
        extra = {k: v for k, v in fields.items() if k not in ("model", "serial_number")}
        extra["baud"] = str(self.baud)
        self._info = DeviceInfo(url=self.url, profile=spec.name,
                                model=fields.get("model", spec.title),
                                serial_number=fields.get("serial_number", ""),
                                channels=spec.channels, extra=extra)

    def _wait_first_line(self) -> bool:
        """Wait for a valid line; a start-up banner (a board that just reset) buys startup_s."""
        link = self._link
        if link.first_data.wait(self.timeout_s + READ_SLICE_S):
            return True
        return link.banner.is_set() and link.first_data.wait(self.spec.startup_s)

    def _close(self) -> None:
        self._link.stop()

    # ------------------------------------------------------------ public API
    def read(self) -> np.ndarray:
        """All samples received since the last call, oldest first.

        Returns:
            (N,) array of :data:`fusion.types.WEIGHT_DTYPE`: ``t`` driver clock (s)
            at arrival, ``cell`` from ``channel_cells``, ``grams`` (NaN when no
            valid value), ``flags`` (:class:`SampleFlag`).

        Raises:
            ProtocolError: (``strict``) a line did not parse; its samples are
                returned by the next call.
            DriverError: (``strict``) the device answered with an error.
        """
        self._require_open()
        with self._lock:
            rows, errors = self._rows, self._errors
            self._errors = []
            if errors and self.strict:
                if len(errors) > 1:
                    errors[0].add_note(f"{len(errors) - 1} more errors since the last read()")
                raise errors[0]
            self._rows = []
        return np.array(rows, dtype=WEIGHT_DTYPE) if rows else np.zeros(0, WEIGHT_DTYPE)

    def info(self) -> DeviceInfo:
        """Identification gathered by :meth:`open` (MT-SICS ``I4``/``I2``/``I3``/``I1``)."""
        self._require_open()
        return self._info

    def send_command(self, name: str) -> dict[str, str]:
        """Run a profile command by name (``"tare_query"``...); returns the reply's groups."""
        self._require_open()
        return self._command(name)

    def zero(self) -> None:
        """Zero the gross reading: the device's zero command, or in software."""
        self._require_open()
        if self.spec.zero_mode == "command":
            self._command("zero")
            zero_g = np.zeros_like(self._zero_g)
        else:
            zero_g = self._settled_raw_g()
        with self._lock:
            self._zero_g[:] = zero_g
            self._tare_g[:] = 0.0

    def tare(self) -> float:
        """Tare the current load; returns the tare in grams (sum over channels)."""
        self._require_open()
        if "tare" in self.spec.commands:
            groups = self._command("tare")
            return self.spec.to_grams(groups["value"], groups.get("unit"), b"")
        gross = (self._settled_raw_g() - self._zero_g) * self._span
        with self._lock:
            self._tare_g[:] = gross
        return float(gross.sum())

    def calibrate_span(self, known_g: float, *, channel: int = 0) -> None:
        """Software span: scale ``channel`` so its current net reading becomes ``known_g``.

        Zero first (with the plate empty), then put ``known_g`` grams on it.
        """
        self._require_open()
        if not known_g > 0:
            raise ValueError(f"known_g must be > 0 grams, got {known_g}")
        if not 0 <= channel < self.spec.channels:
            raise ValueError(f"channel must be 0..{self.spec.channels - 1}, got {channel}")
        if self.spec.span_mode != "software":
            raise DriverError(f"{self.url}: profile {self.spec.name!r} cannot calibrate the span "
                              "over this interface; adjust on the device (MT-SICS: C2/C3, level 2)")
        raw = self._settled_raw_g()[channel] - self._zero_g[channel]
        if abs(raw) < 1e-6 * known_g:
            raise DriverError(f"{self.url}: channel {channel} reads {raw:.3g} g above zero; put "
                              f"the {known_g} g mass on the plate and zero first")
        with self._lock:
            self._span[channel] = known_g / raw

    @property
    def calibration(self) -> dict[str, list[float]]:
        """Software calibration per channel (save it; pass back as ``calibration=``)."""
        return {"zero_g": self._zero_g.tolist(), "span": self._span.tolist(),
                "tare_g": self._tare_g.tolist()}

    # ------------------------------------------------------------ internals
    def _command(self, name: str, timeout_s: float | None = None) -> dict[str, str]:
        return self._link.command(name, timeout_s)

    def _on_values(self, t: float, channels: Sequence[int], grams: Sequence[float],
                   flags: Sequence[int]) -> None:
        """Called by the reader thread with one line's values (uncorrected grams)."""
        with self._lock:
            for ch, g, f in zip(channels, grams, flags, strict=True):
                if g == g:  # not NaN
                    self._recent[ch].append((t, g))
                    g = (g - self._zero_g[ch]) * self._span[ch] - self._tare_g[ch]
                self._rows.append((t, self._cells[ch], g, f))

    def _on_error(self, error: Exception) -> None:
        with self._lock:
            self._errors.append(error)

    def _settled_raw_g(self) -> np.ndarray:
        """(n_channels,) mean uncorrected grams over the last SETTLE_WINDOW_S."""
        now = self.clock()
        out = np.empty(len(self._recent))
        with self._lock:
            for ch, recent in enumerate(self._recent):
                vals = [g for t, g in recent if t >= now - SETTLE_WINDOW_S]
                if not vals:
                    raise DriverError(f"{self.url}: no valid reading on channel {ch} in the last "
                                      f"{SETTLE_WINDOW_S} s; cannot zero/tare/calibrate")
                out[ch] = float(np.mean(vals))
        return out


# ----------------------------------------------------------------- probing


def serial_profiles() -> list[str]:
    """Names of the serial profiles in ``hardware/`` (those with a ``[weight]`` table)."""
    names = []
    for path in sorted(HARDWARE_DIR.glob("*.toml")):
        try:
            spec = get_profile(str(path))
        except (DriverError, ValueError, TypeError, KeyError, AttributeError):
            continue  # not a serial profile (e.g. a Modbus register map)
        names.append(spec.name)
    return names


def probe(url: str, profiles: Sequence[str] | None = None, bauds: Sequence[int] | None = None,
          *, timeout_s: float = 0.5,
          opener: Callable[..., serial.SerialBase] | None = None
          ) -> list[tuple[int, str, DeviceInfo]]:
    """Find what answers at ``url``: try each profile at each baud rate.

    Args:
        url: pyserial URL.
        profiles: profile names to try (default: every serial profile).
        bauds: baud rates to try (default: each profile's ``[serial] bauds``).
        timeout_s: how long to wait for an answer per attempt, seconds.
        opener: as for :class:`SerialScaleDriver`.

    Returns:
        ``(baud, profile name, DeviceInfo)`` for every combination that worked.

    Raises:
        DriverError: the port itself cannot be opened.
    """
    found = []
    for name in profiles or serial_profiles():
        spec = get_profile(name)
        for baud in bauds or spec.bauds:
            drv = SerialScaleDriver(url, profile=spec, baud=baud, timeout_s=timeout_s,
                                    opener=opener)
            try:
                drv.open()
                found.append((baud, spec.name, drv.info()))
            except (DeviceNotFoundError, ProtocolError):
                continue
            finally:
                drv.close()
    return found

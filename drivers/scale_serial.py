"""Serial load-cell controllers (MT-SICS balances, HX711 boards), driven by a profile.

One :class:`SerialScaleDriver` speaks every protocol described by a serial
profile in ``hardware/`` (see :mod:`drivers.serial.profile`). The URL is any
pyserial URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``,
``rfc2217://host:port``, ``loop://``), opened with ``serial.serial_for_url``.

After :meth:`~SerialScaleDriver.open`, one background thread owns the port: it
polls (``command`` profiles, e.g. ``SI`` at ``rate_hz``) or listens
(``stream`` profiles, or MT-SICS ``SIR`` with ``stream=True``), stamps each
line with the driver clock when it arrives, and queues the samples;
:meth:`~SerialScaleDriver.read` returns everything queued since the last call.
Commands (zero, tare, identify) are queued to the same thread, so there is
only ever one command on the wire.

Robustness: reply deadlines use the monotonic clock; a line that does not
parse becomes a NaN sample flagged ERROR and a :class:`ProtocolError` (raised
by the next ``read()`` when ``strict``); a lost connection is reopened with
exponential backoff. Each outage is recorded in :attr:`gaps` and as one NaN
sample per channel flagged GAP; samples before and after it are kept.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import serial

from drivers.base import Clock, DeviceInfo, Gap, LoadCellDriver
from drivers.errors import DeviceNotFoundError, DeviceTimeoutError, DriverError, ProtocolError
from drivers.registry import HARDWARE_DIR
from drivers.serial.profile import CommandSpec, SerialProfile, get_profile
from drivers.serial.reader import LineReader
from fusion.types import WEIGHT_DTYPE, SampleFlag

log = logging.getLogger(__name__)

#: How long one blocking read waits (s); bounds the reaction time of the thread.
READ_SLICE_S = 0.01
#: Window over which "the current weight" is averaged for software zero/tare/span (s).
SETTLE_WINDOW_S = 0.5

_NAN = float("nan")


@dataclass(slots=True, eq=False)
class _Request:
    """A command (or a poll when ``spec`` is None) waiting for its reply."""

    spec: CommandSpec | None
    timeout_s: float
    deadline: float = 0.0
    match: dict[str, str] | None = None
    error: Exception | None = None
    done: threading.Event | None = None


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
        self._thread: threading.Thread | None = None

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
        self._ser = self._connect()
        self._thread = threading.Thread(target=self._run, name=f"scale-serial {self.url}",
                                        daemon=True)
        self._thread.start()
        try:
            self._identify()
        except BaseException:
            self._close()
            raise
        self._live = True
        self._last_good_t = self._last_rx_t = self.clock()
        self._next_poll_t = self._last_good_t
        if self.stream and spec.stream_command:
            self._send_soon = spec.stream_command

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
        self._requests: queue.Queue[_Request] = queue.Queue()
        self._outstanding: _Request | None = None
        self._recent_tx: deque[str] = deque(maxlen=4)
        self._stop = threading.Event()
        self._first_data = threading.Event()
        self._live = False
        self._down = False
        self._send_soon: str | None = None
        self._backoff_s = self.reconnect_backoff_s[0]
        self._reader = LineReader(self.spec.max_line_bytes)
        self._last_good_t = self._last_rx_t = self._next_poll_t = self.clock()

    def _connect(self) -> serial.SerialBase:
        spec = self.spec
        try:
            return self._opener(self.url, baudrate=self.baud, bytesize=spec.bytesize,
                                parity=spec.parity, stopbits=spec.stopbits,
                                timeout=READ_SLICE_S, write_timeout=self.timeout_s)
        except ValueError as e:
            raise DriverError(f"{self.url}: bad serial settings for {spec.name!r}: {e}") from None
        except (serial.SerialException, OSError) as e:
            raise DriverError(f"{self.url}: cannot open port: {e}; check the adapter is plugged "
                              "in, the path (ls /dev/serial/by-id) and that no other program "
                              "uses it") from None

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
        elif not self._first_data.wait(self.timeout_s + READ_SLICE_S):
            raise DeviceNotFoundError(
                f"{self.url}: no valid {spec.name} line within {self.timeout_s} s at {self.baud} "
                "baud; check wiring, baud rate and profile")
        extra = {k: v for k, v in fields.items() if k not in ("model", "serial_number")}
        extra["baud"] = str(self.baud)
        self._info = DeviceInfo(url=self.url, profile=spec.name,
                                model=fields.get("model", spec.title),
                                serial_number=fields.get("serial_number", ""),
                                channels=spec.channels, extra=extra)

    def _close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._fail_requests(DriverError(f"{self.url}: driver closed"))
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

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
                err = errors[0]
                more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
                if more and isinstance(err, ProtocolError):
                    err = ProtocolError(err.device, str(err).split(": ", 1)[-1] + more)
                raise err
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
            self._zero_g[:] = 0.0
            self._tare_g[:] = 0.0
        else:
            self._zero_g[:] = self._settled_raw_g()
            self._tare_g[:] = 0.0

    def tare(self) -> float:
        """Tare the current load; returns the tare in grams (sum over channels)."""
        self._require_open()
        if "tare" in self.spec.commands:
            groups = self._command("tare")
            return self.spec.to_grams(groups["value"], groups.get("unit"), b"")
        gross = (self._settled_raw_g() - self._zero_g) * self._span
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
        self._span[channel] = known_g / raw

    @property
    def calibration(self) -> dict[str, list[float]]:
        """Software calibration per channel (save it; pass back as ``calibration=``)."""
        return {"zero_g": self._zero_g.tolist(), "span": self._span.tolist(),
                "tare_g": self._tare_g.tolist()}

    # -------------------------------------------------------- command path
    def _command(self, name: str, timeout_s: float | None = None) -> dict[str, str]:
        spec = self.spec.commands.get(name)
        if spec is None:
            raise DriverError(f"{self.url}: profile {self.spec.name!r} has no command {name!r} "
                              f"(has: {sorted(self.spec.commands)})")
        req = _Request(spec, timeout_s or spec.timeout_s, done=threading.Event())
        self._requests.put(req)
        if not req.done.wait(req.timeout_s + 4 * READ_SLICE_S + 0.5):
            raise DeviceTimeoutError(f"{self.url}: no reply to {spec.send!r} (reader stalled)")
        if req.error is not None:
            raise req.error
        return req.match

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

    def _fail_requests(self, error: Exception) -> None:
        pending = [self._outstanding] if self._outstanding else []
        self._outstanding = None
        while True:
            try:
                pending.append(self._requests.get_nowait())
            except queue.Empty:
                break
        for req in pending:
            if req.done is not None:
                req.error = error
                req.done.set()

    # ---------------------------------------------------------- the thread
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._ser is None:
                    self._reconnect()
                    continue
                try:
                    self._step()
                except (serial.SerialException, OSError) as e:
                    self._lost(f"connection lost: {e}")
        except Exception as e:  # noqa: BLE001 - surfaced by read(), never swallowed
            with self._lock:
                self._errors.append(DriverError(f"{self.url}: reader thread stopped: {e!r}"))
            self._fail_requests(DriverError(f"{self.url}: reader thread stopped: {e!r}"))

    def _step(self) -> None:
        self._maybe_send(self.clock())
        data = self._ser.read(self._ser.in_waiting or 1)
        now = self.clock()
        if data:
            self._last_rx_t = now
            for line in self._reader.feed(data):
                self._handle(line, now)
        self._check_deadlines(self.clock())

    def _maybe_send(self, now: float) -> None:
        if self._send_soon is not None and self._outstanding is None:
            self._write(self._send_soon)
            self._send_soon = None
        if self._outstanding is not None:
            return
        try:
            req = self._requests.get_nowait()
        except queue.Empty:
            req = None
        if req is None and self._polling() and now >= self._next_poll_t:
            req = _Request(None, self.timeout_s)
            period = 1.0 / (self._rate_arg or self.spec.poll_rate_hz)
            self._next_poll_t = max(self._next_poll_t + period, now)
        if req is not None:
            req.deadline = now + req.timeout_s
            self._outstanding = req
            self._write(req.spec.send if req.spec else self.spec.poll_command)

    def _polling(self) -> bool:
        return self._live and self.spec.kind == "command" and not self.stream

    def _write(self, text: str) -> None:
        self._recent_tx.append(text)
        self._ser.write(text.encode(self.spec.encoding) + self.spec.tx_end)

    def _check_deadlines(self, now: float) -> None:
        req = self._outstanding
        if req is not None and now > req.deadline:
            self._outstanding = None
            sent = req.spec.send if req.spec else self.spec.poll_command
            if req.spec is None:
                self._mark_down(now, f"no reply to {sent!r} within {req.timeout_s} s")
            else:
                self._finish(req, error=DeviceTimeoutError(
                    f"{self.url}: no reply to {sent!r} within {req.timeout_s} s"))
        elif not self._polling() and now - self._last_rx_t > self.timeout_s:
            self._mark_down(now, f"no data for {self.timeout_s} s")
        for err in self._reader.overflow():
            self._bad_line(ProtocolError(self.url, "line too long (no LF)", err), now)

    def _finish(self, req: _Request, *, match: dict | None = None,
                error: Exception | None = None) -> None:
        if self._outstanding is req:
            self._outstanding = None
        req.match, req.error = match, error
        if req.done is not None:
            req.done.set()
        if req.spec is not None and self.stream and self._live and self.spec.stream_command:
            self._send_soon = self.spec.stream_command

    def _handle(self, raw: bytes, now: float) -> None:
        try:
            text = self.spec.decode(raw)
        except ProtocolError as e:
            self._bad_line(ProtocolError(self.url, str(e).split(": ", 1)[-1], raw), now)
            return
        if text in self._recent_tx:
            return  # our own command echoed (RS-485 two-wire adapters, loop://)
        req = self._outstanding
        if req is not None and req.spec is not None and self._reply_to(req, text, now):
            return
        try:
            parsed = self.spec.parse_line(raw)
        except ProtocolError as e:
            self._bad_line(ProtocolError(self.url, str(e).split(": ", 1)[-1], raw), now)
            return
        self._mark_up(now)
        if parsed.kind == "ignore":
            return
        if parsed.kind == "device_error":
            err = DriverError(f"{self.url}: device answered {parsed.text}")
            if req is not None and req.spec is not None:
                self._finish(req, error=err)
                return
            self._emit_all(now, SampleFlag.ERROR, err)
        else:
            self._emit(now, parsed.channels, parsed.grams, parsed.flags)
        if req is not None and req.spec is None:
            self._finish(req)

    def _reply_to(self, req: _Request, text: str, now: float) -> bool:
        m = req.spec.ok.fullmatch(text)
        if m is not None:
            self._mark_up(now)
            self._finish(req, match={k: v for k, v in m.groupdict().items() if v is not None})
            return True
        m = req.spec.fail.fullmatch(text) if req.spec.fail else None
        if m is not None:
            self._mark_up(now)
            code = m.groupdict().get("code") or ""
            meaning = self.spec.command_errors.get(code, "refused")
            self._finish(req, error=DriverError(
                f"{self.url}: {req.spec.send!r} answered {text!r}: {meaning}"))
            return True
        return False

    # ------------------------------------------------------ samples & gaps
    def _emit(self, t: float, channels, grams, flags) -> None:
        with self._lock:
            for ch, g, f in zip(channels, grams, flags, strict=True):
                if g == g:  # not NaN
                    self._recent[ch].append((t, g))
                    g = (g - self._zero_g[ch]) * self._span[ch] - self._tare_g[ch]
                self._rows.append((t, self._cells[ch], g, f))
        self._first_data.set()

    def _emit_all(self, t: float, flag: SampleFlag, error: Exception | None) -> None:
        n = self.spec.channels
        # Before the first valid line (e.g. opened mid-line), garbage is not news.
        if not (self._live or self._first_data.is_set()):
            return
        self._emit(t, range(n), (_NAN,) * n, (int(flag),) * n)
        if error is not None:
            with self._lock:
                self._errors.append(error)

    def _bad_line(self, error: ProtocolError, now: float) -> None:
        log.debug("%s", error)
        self._emit_all(now, SampleFlag.ERROR, error)
        req = self._outstanding
        if req is not None and req.spec is None:
            self._finish(req)

    def _mark_down(self, now: float, reason: str) -> None:
        if self._down or not self._live:
            return
        self._down = True
        self.gaps.append(Gap(self.url, self._last_good_t, None, reason))
        self._emit_all(now, SampleFlag.GAP, None)
        log.warning("%s: gap starts: %s", self.url, reason)

    def _mark_up(self, now: float) -> None:
        self._last_good_t = now
        if self._down:
            self._down = False
            self.gaps[-1] = replace(self.gaps[-1], t_end=now)
            log.warning("%s: communication resumed", self.url)

    def _lost(self, reason: str) -> None:
        self._mark_down(self.clock(), reason)
        if self._outstanding is not None and self._outstanding.spec is not None:
            self._finish(self._outstanding, error=DriverError(f"{self.url}: {reason}"))
        self._outstanding = None
        ser, self._ser = self._ser, None
        try:
            ser.close()
        except (serial.SerialException, OSError):
            pass
        self._reader.clear()

    def _reconnect(self) -> None:
        if self._stop.wait(self._backoff_s):
            return
        try:
            self._ser = self._connect()
        except DriverError as e:
            self._backoff_s = min(2 * self._backoff_s, self.reconnect_backoff_s[1])
            log.debug("%s", e)
            return
        self._backoff_s = self.reconnect_backoff_s[0]
        self._last_rx_t = self._next_poll_t = self.clock()
        if self.stream and self.spec.stream_command:
            self._send_soon = self.spec.stream_command


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

"""The reader thread behind :class:`drivers.scale_serial.SerialScaleDriver`.

A :class:`SerialLink` owns one pyserial port. Its thread is the only code that
touches the port: it sends polls at the poll rate (``command`` profiles) and
queued commands one at a time, splits what arrives into lines, matches
command replies, hands weight values to ``on_values`` and problems to
``on_error``, and reopens the port with exponential backoff when it fails.
Outages are appended to ``gaps`` and signalled by one GAP-flagged NaN value
per channel. All deadlines use the given (monotonic) clock.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import serial

from drivers.base import Clock, Gap
from drivers.errors import DeviceTimeoutError, DriverError, ProtocolError
from drivers.serial.profile import CommandSpec, SerialProfile
from drivers.serial.reader import LineReader
from fusion.types import SampleFlag

log = logging.getLogger(__name__)

#: How long one blocking read waits (s); bounds the reaction time of the thread.
READ_SLICE_S = 0.01

#: ``on_values(t_s, channels, grams, flags)``: one parsed line's values.
ValuesSink = Callable[[float, Sequence[int], Sequence[float], Sequence[int]], None]


@dataclass(slots=True, eq=False)
class _Request:
    """A command (or a poll when ``spec`` is None) waiting for its reply."""

    spec: CommandSpec | None
    timeout_s: float
    deadline: float = 0.0
    match: dict[str, str] | None = None
    error: Exception | None = None
    done: threading.Event | None = None
    cancelled: bool = False


class SerialLink:
    """Port + reader thread for one serial device.

    Args:
        url: pyserial URL.
        spec: the protocol profile.
        baud: baud rate.
        timeout_s: reply deadline and "no data" limit (s).
        rate_hz: poll rate of ``command`` profiles (Hz).
        stream: use the profile's ``stream_command`` instead of polling.
        backoff_s: (first, max) wait between reopen attempts (s).
        opener: ``opener(url, **pyserial_kwargs)`` -> open port.
        clock: monotonic store clock (s).
        gaps: list the outages are appended to (the driver's ``gaps``).
        on_values: receives parsed values.
        on_error: receives ProtocolError/DriverError seen on the line.
    """

    def __init__(self, url: str, spec: SerialProfile, *, baud: int, timeout_s: float,
                 rate_hz: float, stream: bool, backoff_s: tuple[float, float],
                 opener: Callable[..., serial.SerialBase], clock: Clock, gaps: list[Gap],
                 on_values: ValuesSink, on_error: Callable[[Exception], None]):
        self.url, self.spec, self.baud = url, spec, baud
        self.timeout_s, self.rate_hz, self.stream = timeout_s, rate_hz, stream
        self.backoff_s, self.opener, self.clock, self.gaps = backoff_s, opener, clock, gaps
        self.on_values, self.on_error = on_values, on_error
        self.first_data = threading.Event()   #: set by the first valid line
        self.banner = threading.Event()       #: set by a known non-data line (start-up text)
        self._requests: queue.Queue[_Request] = queue.Queue()
        self._outstanding: _Request | None = None
        self._recent_tx: deque[str] = deque(maxlen=4)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ser: serial.SerialBase | None = None
        self._live = self._down = False
        self._send_soon: str | None = None
        self._backoff = backoff_s[0]
        self._reader = LineReader(spec.max_line_bytes)
        self._last_good_t = self._last_rx_t = self._next_poll_t = clock()

    # ------------------------------------------------------------ control
    def start(self) -> None:
        """Open the port (raises :class:`DriverError`) and start the thread."""
        self._ser = self._connect()
        self._thread = threading.Thread(target=self._run, name=f"scale-serial {self.url}",
                                        daemon=True)
        self._thread.start()

    def go_live(self) -> None:
        """Identification done: start polling/streaming and watching for gaps."""
        self._last_good_t = self._last_rx_t = self._next_poll_t = self.clock()
        self._live = True
        if self.stream and self.spec.stream_command:
            self._send_soon = self.spec.stream_command

    def stop(self) -> None:
        """Stop the thread and close the port; safe to call twice."""
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

    def command(self, name: str, timeout_s: float | None = None) -> dict[str, str]:
        """Send profile command ``name`` and wait for its reply; returns its regex groups."""
        spec = self.spec.commands.get(name)
        if spec is None:
            raise DriverError(f"{self.url}: profile {self.spec.name!r} has no command {name!r} "
                              f"(has: {sorted(self.spec.commands)})")
        req = _Request(spec, timeout_s or spec.timeout_s, done=threading.Event())
        self._requests.put(req)
        # It may wait behind one outstanding poll (timeout_s) before it is sent.
        if not req.done.wait(req.timeout_s + self.timeout_s + 0.5):
            req.cancelled = True
            raise DeviceTimeoutError(f"{self.url}: no reply to {spec.send!r} within "
                                     f"{req.timeout_s} s")
        if req.error is not None:
            raise req.error
        return req.match

    def _connect(self) -> serial.SerialBase:
        spec = self.spec
        try:
            return self.opener(self.url, baudrate=self.baud, bytesize=spec.bytesize,
                               parity=spec.parity, stopbits=spec.stopbits,
                               timeout=READ_SLICE_S, write_timeout=self.timeout_s)
        except ValueError as e:
            raise DriverError(f"{self.url}: bad serial settings for {spec.name!r}: {e}") from None
        except (serial.SerialException, OSError) as e:
            raise DriverError(f"{self.url}: cannot open port: {e}; check the adapter is plugged "
                              "in, the path (ls /dev/serial/by-id) and that no other program "
                              "uses it") from None

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
            err = DriverError(f"{self.url}: reader thread stopped: {e!r}")
            self.on_error(err)
            self._fail_requests(err)

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
        req = None
        while req is None or req.cancelled:
            try:
                req = self._requests.get_nowait()
            except queue.Empty:
                req = None
                break
        if req is None and self._polling() and now >= self._next_poll_t:
            req = _Request(None, self.timeout_s)
            self._next_poll_t = max(self._next_poll_t + 1.0 / self.rate_hz, now)
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

    # -------------------------------------------------------------- lines
    def _handle(self, raw: bytes, now: float) -> None:
        try:
            text = self.spec.decode(raw)
        except ProtocolError as e:
            self._bad_line(ProtocolError(self.url, f"{self.spec.name}: {e.reason}", raw), now)
            return
        if text in self._recent_tx:
            return  # our own command echoed (RS-485 two-wire adapters, loop://)
        req = self._outstanding
        if req is not None and req.spec is not None and self._reply_to(req, text, now):
            return
        try:
            parsed = self.spec.parse_line(raw)
        except ProtocolError as e:
            self._bad_line(ProtocolError(self.url, f"{self.spec.name}: {e.reason}", raw), now)
            return
        self._mark_up(now)
        if parsed.kind == "ignore":
            self.banner.set()
            return
        if parsed.kind == "device_error":
            err = DriverError(f"{self.url}: device answered {parsed.text}")
            if req is not None and req.spec is not None:
                self._finish(req, error=err)
                return
            self._emit_all(now, SampleFlag.ERROR, err)
        else:
            self.on_values(now, parsed.channels, parsed.grams, parsed.flags)
            self.first_data.set()
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

    def _emit_all(self, t: float, flag: SampleFlag, error: Exception | None) -> None:
        # Before the first valid line (e.g. opened mid-line), garbage is not news.
        if not (self._live or self.first_data.is_set()):
            return
        n = self.spec.channels
        self.on_values(t, range(n), (float("nan"),) * n, (int(flag),) * n)
        if error is not None:
            self.on_error(error)

    def _bad_line(self, error: ProtocolError, now: float) -> None:
        log.debug("%s", error)
        self._emit_all(now, SampleFlag.ERROR, error)
        req = self._outstanding
        if req is not None and req.spec is None:
            self._finish(req)

    # --------------------------------------------------------------- gaps
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
        if self._stop.wait(self._backoff):
            return
        try:
            self._ser = self._connect()
        except DriverError as e:
            self._backoff = min(2 * self._backoff, self.backoff_s[1])
            log.debug("%s", e)
            return
        self._backoff = self.backoff_s[0]
        self._last_rx_t = self._next_poll_t = self.clock()
        if self.stream and self.spec.stream_command:
            self._send_soon = self.spec.stream_command

"""A serial load-cell controller on a pseudo-terminal, for tests and demos.

:class:`PtySerialEmulator` opens a pty (``os.openpty``), serves the master end
from a thread and speaks a ``hardware/`` profile on it: an MT-SICS balance or
an HX711 board (see :mod:`drivers.serial.emu_logic`). Its :attr:`port` is a
symlink to the slave end, usable as a pyserial URL exactly like
``/dev/serial/by-id/...``: it disappears on :meth:`disconnect` and comes back
(pointing at a new pty) on :meth:`reconnect`, like a USB adapter being
unplugged and plugged in again.

The baud rate the host set on the slave (pyserial does ``tcsetattr``) is
checked: at any other rate than the emulator's, its output is garbled and
commands are not understood, as on a real line.

Example::

    with PtySerialEmulator("mt-sics", signal=lambda t: 100.0) as emu:
        with SerialScaleDriver(emu.port, profile="mt-sics") as drv:
            ...

Faults on demand: :meth:`set_silent` (no reply), :meth:`inject` (raw bytes),
:meth:`corrupt_next` (garbage instead of the next lines), :meth:`set_stuck`
(frozen value), :meth:`disconnect` / :meth:`reconnect`.
"""

from __future__ import annotations

import errno
import os
import select
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from drivers.serial.emu_logic import CommandLogic, Signal, StreamLogic, step_signal
from drivers.serial.profile import SerialProfile, get_profile

__all__ = ["PtySerialEmulator", "step_signal"]


class PtySerialEmulator:
    """Serve a profile's protocol on a pty.

    Args:
        profile: profile name, TOML path or :class:`SerialProfile`.
        signal: ``signal(t_s) -> grams`` (scalar or one per channel), ``t_s``
            seconds since :meth:`start`; any callable, e.g. a simulator's load-cell
            model. Default: 0 g.
        script: instead of ``signal``, steps ``[(t_s, grams), ...]`` (see
            :func:`step_signal`).
        baud: the device's baud rate (default: the profile's).
        mode: HX711 rate mode from the profile (``"10sps"``, ``"80sps"``).
        rate_hz: override the line rate of stream devices / SIR (Hz).
        noise_g: override the noise standard deviation (g).
        seed: random seed of the noise.
    """

    def __init__(self, profile: str | SerialProfile = "mt-sics", *, signal: Signal | None = None,
                 script: Sequence[tuple[float, float | Sequence[float]]] | None = None,
                 baud: int | None = None, mode: str | None = None, rate_hz: float | None = None,
                 noise_g: float | None = None, seed: int = 0):
        if signal is not None and script is not None:
            raise ValueError("give signal or script, not both")
        self.profile = get_profile(profile)
        self.baud = int(baud or self.profile.baud)
        self._speed = getattr(termios, f"B{self.baud}", None)
        if self._speed is None:
            raise ValueError(f"baud {self.baud} is not a termios speed")
        self.signal = step_signal(script) if script is not None else (signal or (lambda t: 0.0))
        self._logic = self._make_logic(mode, rate_hz, noise_g, seed)
        self.received: list[bytes] = []   #: commands received (without terminator)
        self.sent: list[bytes] = []       #: lines sent (with CR LF)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self._dir: tempfile.TemporaryDirectory | None = None
        self._silent = False
        self._corrupt = 0
        self._rx = bytearray()
        self._t0 = 0.0
        self.error: BaseException | None = None  #: what stopped the thread, if anything

    def _make_logic(self, mode, rate_hz, noise_g, seed):
        p = self.profile
        if p.kind == "command":
            logic = CommandLogic(p, self.signal, noise_g=noise_g or 0.0, seed=seed)
            if rate_hz:
                logic.rate_hz = float(rate_hz)
            return logic
        modes = p.emulator.get("modes", {})
        if mode is not None and mode not in modes:
            raise ValueError(f"unknown mode {mode!r} for {p.name}; known: {sorted(modes)}")
        chosen = modes.get(mode) or next(iter(modes.values()), {})
        return StreamLogic(p, self.signal, rate_hz=float(rate_hz or chosen.get("rate_hz", 10.0)),
                           noise_g=float(noise_g if noise_g is not None
                                         else chosen.get("noise_g", 0.0)), seed=seed)

    # ------------------------------------------------------------ lifecycle
    @property
    def port(self) -> str:
        """Path to use as the pyserial URL (a symlink to the current slave pty)."""
        if self._dir is None:
            raise RuntimeError("emulator not started; use 'with' or start()")
        return str(Path(self._dir.name) / "ttyEMU0")

    @property
    def slave_path(self) -> str:
        """The pty slave device itself (``/dev/pts/N``); changes on reconnect."""
        return os.ttyname(self._slave)

    def elapsed_s(self) -> float:
        """Seconds since :meth:`start` (the signal's time axis)."""
        return time.monotonic() - self._t0

    def start(self) -> PtySerialEmulator:
        """Open the pty and start serving."""
        if self._thread is not None:
            return self
        self._dir = tempfile.TemporaryDirectory(prefix="shelf-emu-")
        self._t0 = time.monotonic()
        self._plug()
        self._startup()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pty-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the pty; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._unplug()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> PtySerialEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[4] = attrs[5] = self._speed
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        with self._lock:
            self._master, self._slave = master, slave
        link = Path(self.port)
        tmp = link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(link)

    def _unplug(self) -> None:
        with self._lock:
            fds, self._master, self._slave = (self._master, self._slave), -1, -1
        if self._dir is not None:
            Path(self.port).unlink(missing_ok=True)
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        self._rx.clear()

    def _startup(self) -> None:
        for line in self.profile.emulator.get("startup_lines", ()):
            self._send_line(str(line))

    # -------------------------------------------------------------- faults
    def set_silent(self, on: bool = True) -> None:
        """Stop (or resume) answering and streaming; input is still consumed."""
        self._silent = bool(on)

    def inject(self, data: bytes) -> None:
        """Write raw bytes to the host now (garbage, partial lines...)."""
        self._write(bytes(data))

    def corrupt_next(self, n: int = 1) -> None:
        """Replace the next ``n`` lines sent with garbage of the same length."""
        self._corrupt += int(n)

    def set_stuck(self, on: bool = True) -> None:
        """Freeze (or release) the reading at its current value."""
        self._logic.set_stuck(on, self.elapsed_s())

    def disconnect(self) -> None:
        """Unplug: close the pty and remove :attr:`port` until :meth:`reconnect`."""
        self._unplug()

    def reconnect(self) -> None:
        """Plug back in: a new pty behind the same :attr:`port` path."""
        if self._master < 0:
            self._plug()
            self._startup()

    @property
    def zero_g(self) -> np.ndarray:
        """(channels,) the device's own zero offset (g)."""
        return self._logic.zero_g.copy()

    @property
    def tare_g(self) -> np.ndarray:
        """(channels,) the device's own tare (g)."""
        return self._logic.tare_g.copy()

    # -------------------------------------------------------------- thread
    def _baud_ok(self) -> bool:
        try:
            return termios.tcgetattr(self._slave)[4] == self._speed
        except (termios.error, OSError):
            return False

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self._master < 0:
                return
            if not self._baud_ok():
                data = bytes((b * 7 + 0x55) & 0xFF for b in data)
            try:
                os.write(self._master, data)
            except BlockingIOError:
                pass  # nobody reads: a UART drops bytes too
            except OSError as e:
                if e.errno not in (errno.EIO, errno.EBADF):
                    raise

    def _send_line(self, text: str) -> None:
        data = text.encode(self.profile.encoding, "replace") + b"\r\n"
        if self._corrupt > 0:
            self._corrupt -= 1
            data = bytes(0x80 | (b * 13 + 7) & 0x7F for b in data[:-2]) + b"\r\n"
        self.sent.append(data)
        self._write(data)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._serve_once()
        except Exception as e:  # noqa: BLE001 - kept for the test to inspect
            self.error = e

    def _serve_once(self) -> None:
        master = self._master
        if master < 0:
            self._stop.wait(0.01)
            return
        due = self._logic.next_due()
        now = self.elapsed_s()
        wait = 0.02 if due is None else min(max(due - now, 0.0), 0.02)
        try:
            readable, _, _ = select.select([master], [], [], wait)
        except (OSError, ValueError):
            return  # closed under us by disconnect()
        if readable:
            try:
                data = os.read(master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            if data:
                self._on_bytes(data)
        lines = self._logic.due_lines(self.elapsed_s())
        if not self._silent:
            for line in lines:
                self._send_line(line)

    def _on_bytes(self, data: bytes) -> None:
        if not self._baud_ok():
            return  # framing errors: the device hears nothing sensible
        end = self.profile.tx_end
        if not end:
            commands = [data]
        else:
            self._rx += data
            *commands, rest = bytes(self._rx).split(b"\n")
            self._rx = bytearray(rest)
            commands = [c[:-1] if c.endswith(b"\r") else c for c in commands]
        for cmd in commands:
            self.received.append(cmd)
            try:
                text = cmd.decode("ascii")
            except UnicodeDecodeError:
                replies = ["ET"] if end else []
            else:
                replies = self._logic.on_command(text, self.elapsed_s())
            if not self._silent:
                for reply in replies:
                    self._send_line(reply)

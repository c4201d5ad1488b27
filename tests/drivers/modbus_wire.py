"""Test helpers for the Modbus tests: a pty or TCP peer that plays scripted bytes.

:class:`ScriptedPtySlave` checks that the driver sends exactly the expected
request bytes and answers with the given reply bytes (byte-exact exchanges,
as in pymeasure's ``expected_protocol``).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import tty


class BackgroundPeer:
    """A peer served by a daemon thread (``_run``) between ``with`` and its end;
    subclasses set up their descriptors in ``__init__`` and free them in ``_close``."""

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self._close()

    def _run(self):
        raise NotImplementedError

    def _close(self):
        raise NotImplementedError


class ScriptedPtySlave(BackgroundPeer):
    """A pty whose far end expects ``pairs`` of (request, reply) bytes in order.

    ``reply`` may be a callable ``request -> bytes`` (for fuzzing). Mismatches
    are collected in :attr:`errors` and checked by the test.
    """

    def __init__(self, pairs):
        self.pairs = list(pairs)
        self.errors: list[str] = []
        self.received: list[bytes] = []
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        super().__init__()

    def _close(self):
        os.close(self._master)
        os.close(self._slave)

    def _read_frame(self, n: int) -> bytes:
        buf = b""
        deadline = time.monotonic() + 10
        while len(buf) < n and not self._stop.is_set() and time.monotonic() < deadline:
            r, _, _ = select.select([self._master], [], [], 0.01)
            if r:
                buf += os.read(self._master, n - len(buf))
        return buf

    def _run(self):
        for expected, reply in self.pairs:
            got = self._read_frame(len(expected))
            if self._stop.is_set():
                return
            self.received.append(got)
            if got != expected:
                self.errors.append(f"expected {expected.hex(' ')}, got {got.hex(' ')}")
            out = reply(got) if callable(reply) else reply
            if out:
                os.write(self._master, out)


class ScriptedTcpPeer(BackgroundPeer):
    """A TCP server on 127.0.0.1 answering each request with ``reply(request)`` bytes."""

    def __init__(self, reply):
        self.reply = reply
        self._srv = socket.create_server(("127.0.0.1", 0))
        self._srv.settimeout(0.05)
        self.port = self._srv.getsockname()[1]
        super().__init__()

    def _close(self):
        self._srv.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.05)
            with conn:
                while not self._stop.is_set():
                    try:
                        data = conn.recv(1024)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    out = self.reply(data)
                    if out:
                        try:
                            conn.sendall(out)
                        except OSError:
                            break

"""Two ptys joined back to back, like a null-modem cable between two serial ports."""

from __future__ import annotations

import os
import select
import tty

from tests.drivers.modbus_wire import BackgroundPeer


class PtyNullModem(BackgroundPeer):
    """Bytes written to :attr:`port_a` come out of :attr:`port_b` and back."""

    def __init__(self):
        self._ma, self._sa = os.openpty()
        self._mb, self._sb = os.openpty()
        for fd in (self._sa, self._sb):
            tty.setraw(fd)
        self.port_a, self.port_b = os.ttyname(self._sa), os.ttyname(self._sb)
        super().__init__()

    def _close(self):
        for fd in (self._ma, self._sa, self._mb, self._sb):
            os.close(fd)

    def _run(self):
        peer = {self._ma: self._mb, self._mb: self._ma}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peer), [], [], 0.01)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if data:
                    os.write(peer[fd], data)

"""Driver exceptions.

* :class:`DriverError` -- a device cannot be opened or used (port busy, cable
  unplugged, profile unknown).
* :class:`ProtocolError` -- a reply that does not parse (shows the bytes), a
  bad CRC, or a Modbus exception code (names device, unit and register).
* :class:`DeviceNotFoundError` -- nothing answers at that URL.
* :class:`DeviceTimeoutError` -- no complete reply within the timeout; also a
  :class:`TimeoutError`.
"""

from __future__ import annotations

from fusion.errors import ShelfFusionError


class DriverError(ShelfFusionError):
    """A device could not be opened, read or commanded."""


class ProtocolError(DriverError):
    """A reply that does not follow the device's protocol.

    Attributes:
        device: URL or name of the device.
        reason: what is wrong, without the device and the bytes.
        raw: the offending bytes (may be empty).
    """

    def __init__(self, device: str, reason: str, raw: bytes = b""):
        self.device = device
        self.reason = reason
        self.raw = bytes(raw)
        shown = f" (bytes: {self.raw!r})" if raw else ""
        super().__init__(f"{device}: {reason}{shown}")

    def __reduce__(self):  # picklable (multiprocessing sends errors between processes)
        return type(self), (self.device, self.reason, self.raw)


class DeviceNotFoundError(DriverError):
    """No device answers at the given URL / unit."""


class DeviceTimeoutError(DriverError, TimeoutError):
    """The device did not answer in time."""

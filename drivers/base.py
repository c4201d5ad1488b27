"""The driver interface every load-cell controller backend implements.

A driver is named by a URL (see :mod:`drivers.registry`), stores its
configuration in the constructor and does I/O only in :meth:`open` (or
``__enter__``). :meth:`close` may be called any number of times.

:meth:`LoadCellDriver.read` returns a batch of samples as a numpy structured
array of :data:`fusion.types.WEIGHT_DTYPE` (``t`` store seconds, ``cell`` the
driver's channel index mapped through ``channel_cells``, ``grams``, ``flags``
from :class:`fusion.types.SampleFlag`). A reading that the controller marks
invalid (overload, error) or that could not be read is a gap: ``grams`` is NaN
and a flag says why -- never a zero.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fusion.types import WEIGHT_DTYPE

#: A clock returning store time in seconds; the default is monotonic.
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a controller says about itself.

    Attributes:
        url: the URL it was opened with.
        profile: protocol profile name (e.g. ``"mt-sics"``).
        model: model string reported by the device ('' if unknown).
        serial_number: serial number reported by the device ('' if unknown).
        channels: number of load-cell channels read by this driver.
        extra: other identification fields.
    """

    url: str
    profile: str
    model: str = ""
    serial_number: str = ""
    channels: int = 1
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Gap:
    """A period with no valid samples from a device (cable pulled, timeouts).

    Attributes:
        device: URL of the device.
        t_start: store time of the last good exchange (s).
        t_end: store time communication resumed (s), or ``None`` if still down.
        reason: what happened.
    """

    device: str
    t_start: float
    t_end: float | None
    reason: str


def empty_samples(n: int = 0) -> np.ndarray:
    """An array of ``n`` samples of :data:`WEIGHT_DTYPE` (zero-filled)."""
    return np.zeros(n, dtype=WEIGHT_DTYPE)


class LoadCellDriver(abc.ABC):
    """Base class of load-cell controller drivers.

    Args:
        url: the device URL.
        profile: protocol profile name (file stem in ``hardware/``).
        channel_cells: store cell index for each channel (default 0..n-1).
        timeout_s: reply timeout in seconds (monotonic clock).
        clock: returns store time in seconds; default ``time.monotonic``.
    """

    def __init__(self, url: str, *, profile: str, channel_cells: Sequence[int] | None = None,
                 timeout_s: float = 1.0, clock: Clock | None = None):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        self.url = url
        self.profile = profile
        self.channel_cells = tuple(channel_cells) if channel_cells is not None else None
        self.timeout_s = float(timeout_s)
        self.clock: Clock = clock or time.monotonic
        self.gaps: list[Gap] = []
        self._is_open = False

    # -- lifecycle -------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._is_open

    def open(self) -> None:
        """Open the transport and check the device answers."""
        if not self._is_open:
            self._open()
            self._is_open = True

    def close(self) -> None:
        """Close the transport; safe to call more than once."""
        if self._is_open:
            self._is_open = False
            self._close()

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _require_open(self) -> None:
        if not self._is_open:
            from drivers.errors import DriverError
            raise DriverError(f"{self.url}: driver is not open; call open() or use 'with'")

    # -- backend hooks -----------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> np.ndarray:
        """Read what the device has now: a batch of :data:`WEIGHT_DTYPE` samples."""

    @abc.abstractmethod
    def zero(self) -> None:
        """Set the current gross reading as zero (raises if the device refuses)."""

    @abc.abstractmethod
    def tare(self) -> float:
        """Tare the current load; returns the tare weight in grams."""

    @abc.abstractmethod
    def calibrate_span(self, known_g: float) -> None:
        """Calibrate the span with a known mass of ``known_g`` grams on the plate."""

    @abc.abstractmethod
    def info(self) -> DeviceInfo:
        """Identify the device."""

"""The Modbus RTU bus: line timing, request packing, and a polling scheduler.

Line timing (pure functions, seconds): an RTU character is a start bit,
8 data bits, an optional parity bit and 1 or 2 stop bits -- 11 bits with the
usual even parity (``8E1``) or with no parity and two stop bits (``8N2``).
Frames are separated by a silence of 3.5 characters, fixed at 1.75 ms above
19200 bit/s (Modbus over serial line, sec. 2.5.1.1). A read of ``n``
registers sends 8 bytes and receives ``5 + 2 n``; with an instant slave it
takes ``(13 + 2 n) * char + 2 * t3.5`` -- at 115200 bit/s 8E1 and ``n = 2``
that is 5.12 ms, so at most about 195 polls/s.

:class:`BusScheduler` polls many drivers (units) sharing one line, each at
its own rate, earliest-due first, and reports the polls/s achieved against
that physical limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from drivers.base import Clock, empty_samples

#: Bytes of a read-registers request (unit, function, address, count, CRC).
READ_REQUEST_BYTES = 8
#: Bytes of a read reply besides the data (unit, function, byte count, CRC).
READ_REPLY_OVERHEAD_BYTES = 5


def char_bits(parity: str = "E", stop_bits: int = 1, data_bits: int = 8) -> int:
    """Bits on the wire per character: start + data + parity + stop."""
    if parity not in ("N", "E", "O") or stop_bits not in (1, 2):
        raise ValueError(f"parity must be N/E/O and stop_bits 1 or 2, got {parity!r}, {stop_bits}")
    return 1 + data_bits + (parity != "N") + stop_bits


def char_time_s(baud: int, parity: str = "E", stop_bits: int = 1) -> float:
    """Duration of one character (s) at ``baud`` bit/s."""
    if baud <= 0:
        raise ValueError(f"baud must be > 0, got {baud}")
    return char_bits(parity, stop_bits) / baud


def inter_frame_gap_s(baud: int, parity: str = "E", stop_bits: int = 1) -> float:
    """Minimum silence between frames, t3.5 (s): 3.5 characters, 1.75 ms above 19200."""
    return 0.00175 if baud > 19200 else 3.5 * char_time_s(baud, parity, stop_bits)


def read_exchange_s(n_registers: int, baud: int, parity: str = "E", stop_bits: int = 1,
                    *, turnaround_s: float = 0.0) -> float:
    """Time (s) of one read of ``n_registers`` registers: request, reply, two t3.5 gaps.

    Args:
        n_registers: registers read, 1..125.
        baud: line speed (bit/s). parity: ``"N"``, ``"E"``, ``"O"``. stop_bits: 1 or 2.
        turnaround_s: the slave's processing time before it answers (s; 0 = instant).
    """
    if not 1 <= n_registers <= 125 or turnaround_s < 0:
        raise ValueError(f"n_registers must be 1..125 and turnaround_s >= 0, got "
                         f"{n_registers}, {turnaround_s}")
    chars = READ_REQUEST_BYTES + READ_REPLY_OVERHEAD_BYTES + 2 * n_registers
    return (chars * char_time_s(baud, parity, stop_bits)
            + 2 * inter_frame_gap_s(baud, parity, stop_bits) + turnaround_s)


def max_polls_per_s(requests: Sequence[int], baud: int, parity: str = "E", stop_bits: int = 1,
                    *, turnaround_s: float = 0.0) -> float:
    """Physical limit of polls/s when one poll is the reads of ``requests`` register counts."""
    total = sum(read_exchange_s(n, baud, parity, stop_bits, turnaround_s=turnaround_s)
                for n in requests)
    if total <= 0:
        raise ValueError("a poll must read at least one register")
    return 1.0 / total


def worthwhile_gap_registers(baud: int, parity: str = "E", stop_bits: int = 1) -> int:
    """Largest hole (registers) worth reading through instead of a second request."""
    extra_request_s = read_exchange_s(1, baud, parity, stop_bits) - \
        2 * char_time_s(baud, parity, stop_bits)
    return int(extra_request_s / (2 * char_time_s(baud, parity, stop_bits)))


def pack_reads(ranges: Sequence[tuple[int, int]], *, max_registers: int = 125,
               max_gap: int = 0) -> list[tuple[int, int]]:
    """Merge register ranges into as few read requests as possible.

    Args:
        ranges: ``(address, count)`` pairs; a pair is never split (a 32-bit
            value must come from one request).
        max_registers: largest count per request (device limit).
        max_gap: unrequested registers that may be read through to join two
            ranges (0: only contiguous or overlapping ranges are joined).

    Returns:
        ``(address, count)`` requests in address order, covering every range.
    """
    if max_gap < 0 or not 1 <= max_registers <= 125:
        raise ValueError(f"max_gap must be >= 0 and max_registers 1..125, got "
                         f"{max_gap}, {max_registers}")
    out: list[list[int]] = []
    for address, count in sorted(set(ranges)):
        if count < 1 or count > max_registers or address < 0 or address + count > 0x10000:
            raise ValueError(f"range ({address}, {count}) does not fit one request of at "
                             f"most {max_registers} registers")
        if out:
            start, end = out[-1][0], out[-1][0] + out[-1][1]
            new_end = max(end, address + count)
            if address <= end + max_gap and new_end - start <= max_registers:
                out[-1][1] = new_end - start
                continue
        out.append([address, count])
    return [(a, c) for a, c in out]


@dataclass(frozen=True, slots=True)
class BusStats:
    """What a :class:`BusScheduler` achieved.

    Attributes:
        elapsed_s: time spent polling (s).
        polls: driver polls done (one poll reads all channels of one unit).
        requests: Modbus requests sent.
        failures: requests that timed out or returned a bad frame.
        achieved_polls_per_s: polls / elapsed_s.
        limit_polls_per_s: physical limit of the line for this poll mix (inf on TCP).
        requested_polls_per_s: sum of the configured rates.
    """

    elapsed_s: float
    polls: int
    requests: int
    failures: int
    achieved_polls_per_s: float
    limit_polls_per_s: float
    requested_polls_per_s: float

    @property
    def utilisation(self) -> float:
        """achieved / limit (0..1; 0 on TCP)."""
        return self.achieved_polls_per_s / self.limit_polls_per_s \
            if math.isfinite(self.limit_polls_per_s) else 0.0


class BusScheduler:
    """Poll several drivers sharing one line, each at its rate, earliest-due first.

    Args:
        link: the shared :class:`~drivers.modbus.links.ModbusLink`; every added
            driver must have been created with ``link=`` this link.
        clock: monotonic seconds used for scheduling (default ``time.monotonic``).
        turnaround_s: assumed slave processing time in the limit (s).
    """

    def __init__(self, link, *, clock: Clock | None = None, turnaround_s: float = 0.0):
        self.link = link
        self.clock = clock or time.monotonic
        self.turnaround_s = turnaround_s
        self._drivers: list = []
        self._rates_hz: list[float] = []
        self._due_s: list[float] = []
        self._polls = 0
        self._t0: float | None = None
        self._requests0 = 0
        self._failures0 = 0

    def add(self, driver, rate_hz: float) -> None:
        """Poll ``driver`` (a :class:`~drivers.scale_modbus.ModbusScaleDriver`) at ``rate_hz``."""
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        if getattr(driver, "link", None) is not self.link:
            raise ValueError(f"{driver.url}: create the driver with link= the scheduler's link")
        self._drivers.append(driver)
        self._rates_hz.append(float(rate_hz))
        self._due_s.append(-math.inf)

    def open(self) -> None:
        """Open the link and every driver."""
        self.link.open()
        for d in self._drivers:
            d.open()

    def close(self) -> None:
        """Close every driver and the link; safe to call twice."""
        for d in self._drivers:
            d.close()
        self.link.close()

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def poll_once(self, *, wait: bool = True) -> np.ndarray:
        """Poll the most overdue driver (sleeping until it is due if ``wait``).

        Returns:
            Its samples (:data:`fusion.types.WEIGHT_DTYPE`), possibly empty.
        """
        if not self._drivers:
            raise ValueError("no drivers: call add() first")
        if self._t0 is None:
            self._t0 = self.clock()
            self._requests0, self._failures0 = self.link.requests, self.link.failures
        i = int(np.argmin(self._due_s))
        now = self.clock()
        if self._due_s[i] > now:
            if not wait:
                return empty_samples()
            time.sleep(self._due_s[i] - now)
        samples = self._drivers[i].read()
        self._polls += 1
        period = 1.0 / self._rates_hz[i]
        # never build a backlog: a late poll is rescheduled from now
        self._due_s[i] = max(self._due_s[i] + period, self.clock()) \
            if math.isfinite(self._due_s[i]) else self.clock() + period
        return samples

    def run_for(self, duration_s: float) -> np.ndarray:
        """Poll for ``duration_s`` seconds; return all samples in time order."""
        end = self.clock() + duration_s
        batches = []
        while self.clock() < end:
            nxt = min(self._due_s) if self._drivers else end
            if nxt > end:
                time.sleep(max(0.0, end - self.clock()))
                break
            batches.append(self.poll_once())
        return np.concatenate(batches) if batches else empty_samples()

    def limit_polls_per_s(self) -> float:
        """Physical line limit (polls/s) for the configured mix of drivers and rates."""
        link = self.link
        if not hasattr(link, "baud") or not self._drivers:
            return math.inf
        poll_s = [sum(read_exchange_s(c, link.baud, link.parity, link.stop_bits,
                                      turnaround_s=self.turnaround_s)
                      for _, c in d.poll_requests()) for d in self._drivers]
        mean_poll_s = float(np.average(poll_s, weights=self._rates_hz))
        return 1.0 / mean_poll_s

    def stats(self) -> BusStats:
        """Polls/s achieved so far against the line's physical limit."""
        elapsed = 0.0 if self._t0 is None else self.clock() - self._t0
        return BusStats(
            elapsed_s=elapsed, polls=self._polls,
            requests=self.link.requests - self._requests0,
            failures=self.link.failures - self._failures0,
            achieved_polls_per_s=self._polls / elapsed if elapsed > 0 else 0.0,
            limit_polls_per_s=self.limit_polls_per_s(),
            requested_polls_per_s=sum(self._rates_hz))

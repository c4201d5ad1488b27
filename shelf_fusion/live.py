"""Live shelves: read every ``[[controller]]`` of a ``store.toml`` on one store clock.

``store.toml`` may hold ``[[controller]]`` tables describing the hardware
(see :mod:`shelf_fusion.bringup_config`).

:class:`LiveShelf` opens one driver per controller, polls each at its rate and
releases the samples of all controllers merged in time order (a sample is
released once every controller has been read after it arrived), mapped to
store cell indices. :class:`LiveRun` feeds them, with vision frames and gate
taps from files as their times come due, into :class:`fusion.engine.Engine`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from fusion.errors import RecordingError, StoreConfigError
from fusion.types import WEIGHT_DTYPE, GateTap, Receipt, Store, VisionFrame
from shelf_fusion.bringup_config import ControllerConfig, load_controllers

log = logging.getLogger(__name__)

__all__ = ["ControllerConfig", "LiveRun", "LiveShelf", "interleave", "load_controllers",
           "make_driver", "read_gates_file", "read_vision_file", "sort_events"]

class _Reader:
    """One open controller: driver, channel lookup tables, next poll time."""

    def __init__(self, cfg: ControllerConfig, driver):
        self.cfg, self.driver = cfg, driver
        n = max(cfg.channel_cells) + 1
        self.cell = np.full(n, -1, dtype=np.int64)
        self.scale = np.ones(n)
        self.zero_g = np.zeros(n)
        for ch, cell in cfg.channel_cells.items():
            self.cell[ch] = cell
            self.scale[ch] = cfg.scale.get(ch, 1.0)
            self.zero_g[ch] = cfg.zero_g.get(ch, 0.0)
        self.next_t = -math.inf
        self.read_t = -math.inf  # store time before the last read() began

    def map(self, s: np.ndarray) -> np.ndarray:
        """Driver rows (cell = channel) -> store rows; drops unmapped channels."""
        ch = s["cell"].astype(np.int64)
        ok = ch < len(self.cell)
        s, ch = s[ok], ch[ok]
        keep = self.cell[ch] >= 0
        s, ch = s[keep].copy(), ch[keep]
        s["cell"] = self.cell[ch]
        s["grams"] = (s["grams"].astype(np.float64) - self.zero_g[ch]) * self.scale[ch]
        return s


def make_driver(cfg: ControllerConfig, clock: Callable[[], float], timeout_s: float = 1.0,
                links: dict | None = None):
    """The (unopened) driver of one controller, channel index as ``cell``.

    Modbus controllers on the same line (same RTU port, or same TCP gateway)
    share one link taken from / added to ``links`` (bus key -> open link), so
    their requests never collide on the wire.
    """
    from drivers.registry import backend_for_url, open_driver
    kwargs: dict = {"clock": clock, "timeout_s": timeout_s}
    if backend_for_url(cfg.url) == "serial":
        kwargs["rate_hz"] = cfg.rate_hz
        kwargs["strict"] = False
    elif links is not None:
        from drivers.modbus.links import open_link, parse_url
        from drivers.modbus.profile import get_profile
        spec = get_profile(cfg.profile)
        addr = parse_url(cfg.url, default_baud=spec.default_baud,
                         default_parity=spec.default_parity)
        if addr.bus_key not in links:
            link = open_link(addr, timeout_s=timeout_s)
            link.open()
            links[addr.bus_key] = link
        kwargs["link"] = links[addr.bus_key]
        kwargs["profile"] = spec
        return open_driver(cfg.url, **kwargs)
    return open_driver(cfg.url, cfg.profile, **kwargs)


class LiveShelf:
    """Every controller of a store, read on one store clock.

    Args:
        controllers: from :func:`load_controllers`.
        clock: store clock in seconds; default ``time.monotonic`` offset so
            that :meth:`open` is t = 0.
        driver_factory: ``(config, clock) -> driver``; default :func:`make_driver`
            with Modbus links shared per line.
    """

    def __init__(self, controllers: Sequence[ControllerConfig], *,
                 clock: Callable[[], float] | None = None,
                 driver_factory: Callable | None = None):
        if not controllers:
            raise ValueError("no controllers: add [[controller]] tables to store.toml")
        self.controllers = list(controllers)
        self._clock_arg = clock
        self._t0 = 0.0
        self._links: dict = {}
        self._factory = driver_factory or (
            lambda cfg, clock: make_driver(cfg, clock, links=self._links))
        self._readers: list[_Reader] = []
        self._buf: list[np.ndarray] = []
        self.released_t = 0.0  #: every sample up to here has been released (s)

    def clock(self) -> float:
        """Store time (s)."""
        return self._clock_arg() if self._clock_arg else time.monotonic() - self._t0

    def open(self) -> None:
        """Open every driver (closing those already open if one fails)."""
        self._t0 = time.monotonic()
        try:
            for cfg in self.controllers:
                drv = self._factory(cfg, self.clock)
                drv.open()
                self._readers.append(_Reader(cfg, drv))
                n = drv.info().channels
                if max(cfg.channel_cells) >= n:
                    raise StoreConfigError(cfg.source, f"controller[{cfg.index}]",
                                           f"channel {max(cfg.channel_cells)} does not exist: "
                                           f"{cfg.url} ({cfg.profile}) has {n} channel(s), 0..{n - 1}")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close every driver; safe to call twice."""
        for r in self._readers:
            r.driver.close()
        self._readers = []
        for link in self._links.values():
            link.close()
        self._links = {}

    def __enter__(self) -> LiveShelf:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def drivers(self) -> list:
        return [r.driver for r in self._readers]

    def next_due_s(self) -> float:
        """Store time of the next poll due."""
        return min((r.next_t for r in self._readers), default=self.clock())

    def poll(self) -> np.ndarray:
        """Read the controllers that are due; return samples safe to release.

        Returns:
            (n,) :data:`WEIGHT_DTYPE` in non-decreasing ``t`` (store cell indices).
        """
        for r in self._readers:
            now = self.clock()
            if now >= r.next_t:
                r.read_t = now
                r.next_t = max(r.next_t + 1.0 / r.cfg.rate_hz, now)
                s = r.driver.read()
                if len(s):
                    self._buf.append(r.map(s))
        return self._release(min(r.read_t for r in self._readers))

    def drain(self) -> np.ndarray:
        """Everything still buffered (at the end of a run)."""
        return self._release(math.inf)

    def _release(self, upto_t: float) -> np.ndarray:
        if not self._buf:
            if math.isfinite(upto_t):
                self.released_t = max(self.released_t, upto_t)
            return np.zeros(0, WEIGHT_DTYPE)
        allrows = np.concatenate(self._buf)
        allrows = allrows[np.argsort(allrows["t"], kind="stable")]
        k = int(np.searchsorted(allrows["t"], upto_t, side="right"))
        out, rest = allrows[:k], allrows[k:]
        self._buf = [rest] if len(rest) else []
        if len(out):
            late = out["t"] < self.released_t
            if late.any():  # arrived after its slot was released: keep order
                log.debug("%d late samples moved to t=%.4f", int(late.sum()), self.released_t)
                out["t"][late] = self.released_t
            self.released_t = float(out["t"][-1])
        if math.isfinite(upto_t):
            self.released_t = max(self.released_t, upto_t)
        return out


# ------------------------------------------------------------ file inputs


def read_vision_file(path: str | Path) -> list[VisionFrame]:
    """Frames of a ``vision.jsonl`` (recording format), sorted by time."""
    from fusion.recording import parse_vision_line
    frames = []
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            if text.strip():
                frames.append(parse_vision_line(text, str(path), line))
    return sorted(frames, key=lambda fr: fr.t)


def read_gates_file(path: str | Path, store: Store) -> list[GateTap]:
    """Taps of a ``gates.csv`` (header ``t,gate,shopper[,party]``), sorted by time."""
    import csv
    gates = {g.id for g in store.gates}
    taps = []
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = [h.strip() for h in next(rows, [])]
        if not {"t", "gate", "shopper"} <= set(header):
            raise RecordingError(str(path), 1, "", f"header {header}: need t,gate,shopper[,party]")
        col = {h: i for i, h in enumerate(header)}
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                t = float(row[col["t"]])
                party = int(row[col["party"]]) if "party" in col and len(row) > col["party"] \
                    and row[col["party"]].strip() else 1
            except (ValueError, IndexError):
                raise RecordingError(str(path), line, "t", f"bad row {row}") from None
            if row[col["gate"]] not in gates:
                raise RecordingError(str(path), line, "gate",
                                     f"unknown gate {row[col['gate']]!r}: not a [[gate]] id")
            taps.append(GateTap(t, row[col["gate"]], row[col["shopper"]].strip(), party))
    return sorted(taps, key=lambda tap: tap.t)


def interleave(samples: np.ndarray, events: Sequence[tuple], start: int, upto_t: float
               ) -> tuple[list, int]:
    """Merge time-ordered ``samples`` with the events due by ``upto_t``.

    Args:
        samples: (n,) :data:`WEIGHT_DTYPE`, non-decreasing ``t``.
        events: ``(t, kind, i, item)`` sorted; ``events[start:]`` not fed yet.
        start: first event not fed yet.
        upto_t: feed events with ``t <= upto_t`` (s).

    Returns:
        (items in time order -- weight chunks before an event at the same
        time --, index of the first event still waiting).
    """
    items: list = []
    k = start
    while k < len(events) and events[k][0] <= upto_t:
        cut = int(np.searchsorted(samples["t"], events[k][0], side="right"))
        if cut:
            items.append(samples[:cut])
            samples = samples[cut:]
        items.append(events[k][3])
        k += 1
    if len(samples):
        items.append(samples)
    return items, k


def sort_events(events: Iterable[VisionFrame | GateTap]) -> list[tuple]:
    """``(t, kind, i, item)`` in feed order (taps before frames at equal times)."""
    return sorted(((e.t, 0 if isinstance(e, GateTap) else 1, i, e) for i, e in enumerate(events)),
                  key=lambda x: x[:3])


class LiveRun:
    """The online engine on live weights, with vision/taps fed as they come due.

    Args:
        store: the layout.
        shelf: an open :class:`LiveShelf`.
        events: vision frames and gate taps (any order).
        on_receipt: called with each receipt as soon as it is decided.
        config: the engine's tunables (``fusion.engine.EngineConfig``; default
            when ``None``).
    """

    def __init__(self, store: Store, shelf: LiveShelf, events: Iterable[VisionFrame | GateTap] = (),
                 on_receipt: Callable[[Receipt], None] | None = None, config=None):
        from fusion.engine import Engine
        self.engine = Engine(store, config)
        self.shelf = shelf
        self._events = sort_events(events)
        self._next = 0
        self.on_receipt = on_receipt or (lambda r: None)
        self.receipts: list[Receipt] = []
        self.n_samples = 0

    def _feed(self, item) -> None:
        for r in self.engine.feed(item):
            self.receipts.append(r)
            self.on_receipt(r)

    def step(self, samples: np.ndarray, upto_t: float) -> None:
        """Feed ``samples`` (time-ordered) and every event due by ``upto_t``, in time order."""
        self.n_samples += len(samples)
        items, self._next = interleave(samples, self._events, self._next, upto_t)
        for item in items:
            self._feed(item)

    def run(self, seconds: float | None = None, should_stop: Callable[[], bool] = lambda: False
            ) -> list[Receipt]:
        """Poll until ``seconds`` of store time pass (or forever / ``should_stop()``)."""
        end = math.inf if seconds is None else float(seconds)
        while not should_stop():
            now = self.shelf.clock()
            if now >= end:
                break
            s = self.shelf.poll()
            self.step(s, self.shelf.released_t)
            time.sleep(max(0.0, min(self.shelf.next_due_s(), end) - self.shelf.clock()))
        return self.finish()

    def finish(self) -> list[Receipt]:
        """Feed what is left (all remaining events due by the last time) and finish."""
        s = self.shelf.drain()
        self.step(s, max(self.shelf.released_t, self.shelf.clock()))
        for r in self.engine.finish():
            self.receipts.append(r)
            self.on_receipt(r)
        return self.receipts

"""Bounded per-track history of filtered positions and hand points."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping

import numpy as np

_EMPTY_MAP: Mapping[str, float] = {}


class TrackHistory:
    """Time-ordered positions (m) and hands of one track, trimmed by age.

    Entries are appended in (nearly) non-decreasing time; :meth:`trim` drops
    everything older than a cut-off so memory stays bounded by the history
    length in seconds, not by the recording length.
    """

    __slots__ = ("t", "x", "y", "hand_t", "hand_p", "hand_holding")

    def __init__(self) -> None:
        self.t: list[float] = []
        self.x: list[float] = []
        self.y: list[float] = []
        self.hand_t: list[float] = []
        self.hand_p: list[tuple[float, float, float]] = []
        self.hand_holding: list[Mapping[str, float]] = []

    def __len__(self) -> int:
        return len(self.t)

    def add_position(self, t: float, xy: np.ndarray) -> None:
        """Record the filtered position ``xy`` (2,) (m) at ``t`` (s)."""
        self.t.append(t)
        self.x.append(float(xy[0]))
        self.y.append(float(xy[1]))

    def add_hands(self, t: float, hands) -> None:
        """Record hands (sequence of :class:`fusion.types.Hand`) seen at ``t`` (s)."""
        for h in hands:
            p = h.p
            self.hand_t.append(t)
            self.hand_p.append((float(p[0]), float(p[1]), float(p[2])))
            self.hand_holding.append(h.holding if h.holding else _EMPTY_MAP)

    def last_t(self) -> float:
        """Time of the newest entry (s), or -inf when empty."""
        t = self.t[-1] if self.t else -np.inf
        return max(t, self.hand_t[-1]) if self.hand_t else t

    def trim(self, t_min: float) -> None:
        """Drop entries older than ``t_min`` (s)."""
        k = bisect_left(self.t, t_min)
        if k:
            del self.t[:k], self.x[:k], self.y[:k]
        k = bisect_left(self.hand_t, t_min)
        if k:
            del self.hand_t[:k], self.hand_p[:k], self.hand_holding[:k]

    def extend(self, other: TrackHistory) -> None:
        """Append ``other`` (a later track merged into this one), keeping time order."""
        self.t += other.t
        self.x += other.x
        self.y += other.y
        self.hand_t += other.hand_t
        self.hand_p += other.hand_p
        self.hand_holding += other.hand_holding
        if any(a > b for a, b in zip(self.t, self.t[1:], strict=False)):
            order = sorted(range(len(self.t)), key=self.t.__getitem__)
            self.t = [self.t[i] for i in order]
            self.x = [self.x[i] for i in order]
            self.y = [self.y[i] for i in order]
        if any(a > b for a, b in zip(self.hand_t, self.hand_t[1:], strict=False)):
            order = sorted(range(len(self.hand_t)), key=self.hand_t.__getitem__)
            self.hand_t = [self.hand_t[i] for i in order]
            self.hand_p = [self.hand_p[i] for i in order]
            self.hand_holding = [self.hand_holding[i] for i in order]

    def slice(self, t0: float, t1: float):
        """Entries in [t0, t1] (s).

        Returns:
            (t (K,), xy (K, 2), hands_t (H,), hands_p (H, 3), holding tuple of H mappings).
        """
        a, b = bisect_left(self.t, t0), bisect_right(self.t, t1)
        t = np.array(self.t[a:b], dtype=float)
        xy = np.column_stack([self.x[a:b], self.y[a:b]]) if b > a else np.zeros((0, 2))
        ha, hb = bisect_left(self.hand_t, t0), bisect_right(self.hand_t, t1)
        ht = np.array(self.hand_t[ha:hb], dtype=float)
        hp = np.array(self.hand_p[ha:hb], dtype=float).reshape(-1, 3)
        return t, xy, ht, hp, tuple(self.hand_holding[ha:hb])

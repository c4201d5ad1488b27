"""A chunk of interleaved samples laid out as padded per-plate rows.

Row i of the ``(m, L)`` arrays holds the samples of plate ``cells[i]`` in time
order (columns ``>= counts[i]`` are padding), so per-plate recursions run
along axis 1 for all plates at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def chunk_rows(t: np.ndarray, cell: np.ndarray) -> list[np.ndarray]:
    """Split a chunk into rows: row k = indices of each cell's k-th sample (time order)."""
    order = np.lexsort((t, cell))
    cs = cell[order]
    first = np.r_[0, np.flatnonzero(np.diff(cs)) + 1]
    counts = np.diff(np.r_[first, cs.size])
    rank = np.arange(cs.size) - np.repeat(first, counts)
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(rank))]
    flat = order[by_rank]
    return [flat[bounds[k]:bounds[k + 1]] for k in range(bounds.size - 1)]


def _ranks(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted ``keys`` (n,): (unique keys, counts, rank of each entry within its key).

    The keys are sorted already, so runs are found from ``diff`` (no second sort
    as in ``np.unique``).
    """
    new = np.empty(keys.size, bool)
    new[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    first = np.flatnonzero(new)
    counts = np.empty_like(first)
    np.subtract(first[1:], first[:-1], out=counts[:-1])
    counts[-1:] = keys.size - first[-1:]
    return keys[first], counts, np.arange(keys.size) - np.repeat(first, counts)


class LayoutCache:
    """The cell pattern of the previous chunk and its layout, reused while it repeats.

    A controller usually sends every chunk with the same cells in the same
    order (the plates' rates and phases repeat), so the sort and the run
    lengths of the previous chunk are kept.  They are reused only when the
    chunk's ``cell`` array is identical and its times never decrease within a
    plate in chunk order: then ``lexsort((t, cell))`` is exactly the stored
    order (ties in ``t`` keep chunk order in both), so the layout is the same.
    """

    __slots__ = ("cell", "order", "cells", "counts", "row", "rank", "flat", "outer", "shape")

    def __init__(self) -> None:
        self.cell: np.ndarray | None = None

    def lookup(self, t: np.ndarray, cell: np.ndarray) -> bool:
        """True if the stored layout is the layout of a chunk with ``t``, ``cell`` (N,)."""
        prev = self.cell
        if prev is None or prev.shape != cell.shape or not np.array_equal(prev, cell):
            return False
        ts = t[self.order]
        ok = ts[1:] >= ts[:-1]
        np.logical_or(ok, self.outer, out=ok)
        return bool(ok.all())

    def store(self, cell: np.ndarray, lay: ChunkLayout) -> None:
        """Keep ``lay`` for ``cell`` if its order is chunk order within each plate."""
        inner = lay.row[1:] == lay.row[:-1]
        if not (lay.order[1:] > lay.order[:-1])[inner].all():
            self.cell = None  # times out of chunk order: the sort depends on t
            return
        self.cell = cell.copy()
        self.order, self.cells, self.counts = lay.order, lay.cells, lay.counts
        self.row, self.rank, self.flat, self.outer = lay.row, lay.rank, lay.flat, ~inner
        self.shape = lay.T.shape


@dataclass(frozen=True, slots=True)
class ChunkLayout:
    """Padded per-plate layout of one chunk.

    Attributes:
        cells: (m,) plate indices present in the chunk.
        counts: (m,) samples per plate.
        T: (m, L) sample times, s (NaN padding).
        order: (N,) chunk indices sorted by (cell, t).
        row, rank: (N,) row and column of each sorted sample.
        ok: (N,) the sorted samples' validity (a reading, not a gap).
        n_valid: (m,) valid readings per plate.
        flat: (N,) ``row * L + rank``, the sorted samples' positions in ``T.ravel()``.
    """

    cells: np.ndarray
    counts: np.ndarray
    T: np.ndarray
    order: np.ndarray
    row: np.ndarray
    rank: np.ndarray
    ok: np.ndarray
    n_valid: np.ndarray
    flat: np.ndarray

    @classmethod
    def build(cls, t: np.ndarray, cell: np.ndarray, ok: np.ndarray,
              cache: LayoutCache | None = None) -> ChunkLayout:
        """Lay out samples with times ``t`` (s), plate ``cell`` and validity ``ok``, each (N,).

        With a ``cache``, the previous chunk's sort is reused when the cell
        pattern repeats (:class:`LayoutCache`), and this chunk's is stored.
        """
        if cache is not None and cache.lookup(t, cell):
            u, counts, order, row = cache.cells, cache.counts, cache.order, cache.row
            T = np.full(cache.shape, np.nan)
            T.ravel()[cache.flat] = t[order]
            okk = ok[order]
            nv = counts if ok.all() else np.bincount(row[okk], minlength=u.size)
            return cls(u, counts, T, order, row, cache.rank, okk, nv, cache.flat)
        order = np.lexsort((t, cell))
        cs = cell[order]
        u, counts, rank = _ranks(cs)
        row = np.repeat(np.arange(u.size), counts)
        L = int(counts.max())
        T = np.full((u.size, L), np.nan)
        flat = row * L + rank
        T.ravel()[flat] = t[order]
        okk = ok[order]
        lay = cls(u, counts, T, order, row, rank, okk, np.bincount(row[okk], minlength=u.size),
                  flat)
        if cache is not None:
            cache.store(cell, lay)
        return lay

    @property
    def present(self) -> np.ndarray:
        """(m, L) bool, not padding (built on demand: the hot path does not need it)."""
        return np.arange(self.T.shape[1])[None, :] < self.counts[:, None]

    def valid_arrays(self, z: np.ndarray, D: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(m, Lv) times (s), readings ``z`` (g) and per-sample ``D`` of the valid readings only.

        Args:
            z: (N,) readings in chunk order.
            D: (m, L) a per-sample quantity in this layout.
        """
        okk = self.ok
        if self.n_valid.sum() == okk.size:  # no gaps: the layout itself (the common case)
            ZV = np.zeros(self.T.shape)
            ZV.ravel()[self.flat] = z[self.order]
            return self.T, ZV, D
        vrow = self.row[okk]
        _, _, vrank = _ranks(vrow)
        Lv = max(int(self.n_valid.max()), 1)
        TV = np.full((self.cells.size, Lv), np.nan)
        ZV = np.zeros((self.cells.size, Lv))
        DV = np.full((self.cells.size, Lv), np.nan)
        TV[vrow, vrank] = self.T[vrow, self.rank[okk]]
        ZV[vrow, vrank] = z[self.order[okk]]
        DV[vrow, vrank] = D[vrow, self.rank[okk]]
        return TV, ZV, DV

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
    """

    cells: np.ndarray
    counts: np.ndarray
    T: np.ndarray
    order: np.ndarray
    row: np.ndarray
    rank: np.ndarray
    ok: np.ndarray
    n_valid: np.ndarray

    @classmethod
    def build(cls, t: np.ndarray, cell: np.ndarray, ok: np.ndarray) -> ChunkLayout:
        """Lay out samples with times ``t`` (s), plate ``cell`` and validity ``ok``, each (N,)."""
        order = np.lexsort((t, cell))
        cs = cell[order]
        u, counts, rank = _ranks(cs)
        row = np.repeat(np.arange(u.size), counts)
        T = np.full((u.size, int(counts.max())), np.nan)
        T[row, rank] = t[order]
        okk = ok[order]
        return cls(u, counts, T, order, row, rank, okk, np.bincount(row[okk], minlength=u.size))

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
            ZV[self.row, self.rank] = z[self.order]
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

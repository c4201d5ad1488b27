"""What a detector's confidence says about a detection, learned online.

Camera pipelines report a confidence (``conf``, 0..1) per person detection,
but its scale is the detector's own: one pipeline gives every real person
0.99, another 0.5-0.8 in a crowd, and its duplicates (the same person found
twice) and false boxes score somewhere below. A fixed threshold would suit
one pipeline and break the next, so :class:`DetectorScores` learns, from the
tracker's own outcomes, how the scores of real people and of clutter are
distributed:

- *real*: a detection that updated a confirmed track, or one of the
  detections that confirmed a new track;
- *clutter*: the detections of a tentative track that died unconfirmed, and
  an unmatched detection that fell on a track already matched in the same
  frame (a duplicate of it).

From the two histograms it gives, per detection, twice the log likelihood
ratio ``2 ln(p(conf | real) / p(conf | clutter))``, clipped to
``[floor, 0]``: only a penalty, which lowers that detection's assignment
threshold (see ``TrackCore.assign``), so a low-score detection must sit
closer to a track to update it. Until each class has ``min_n`` labels, and
for a detector whose scores do not tell the classes apart, every ratio is
about 0 and matching is as without scores.
"""

from __future__ import annotations

import numpy as np


class DetectorScores:
    """Histograms of detection confidence for real people and for clutter.

    Args:
        bins: equal-width bins over [0, 1].
        min_n: labels each class needs before any penalty is given.
        floor: most negative ratio returned (twice a log likelihood ratio).
        prior: pseudo-count added to every bin of both classes.
    """

    def __init__(self, bins: int = 10, min_n: int = 100, floor: float = -9.0,
                 prior: float = 0.5):
        if bins < 1 or min_n < 0 or not floor <= 0 or not prior > 0:
            raise ValueError("DetectorScores: need bins >= 1, min_n >= 0, floor <= 0, prior > 0")
        self.bins = bins
        self.min_n = min_n
        self.floor = floor
        self.prior = prior
        self.real = np.zeros(bins)
        self.clutter = np.zeros(bins)

    def _bin(self, conf: np.ndarray) -> np.ndarray:
        c = np.clip(np.nan_to_num(np.asarray(conf, dtype=float), nan=0.0), 0.0, 1.0)
        return np.minimum((c * self.bins).astype(np.int64), self.bins - 1)

    def add(self, conf, real: bool) -> None:
        """Label detections with confidences ``conf`` (scalar or array)."""
        b = self._bin(np.atleast_1d(conf))
        np.add.at(self.real if real else self.clutter, b, 1.0)

    def llr(self, conf) -> np.ndarray:
        """Per confidence, ``2 ln(p(conf | real) / p(conf | clutter))`` clipped
        to ``[floor, 0]``; all 0 until both classes have ``min_n`` labels."""
        conf = np.atleast_1d(np.asarray(conf, dtype=float))
        nr, nc = self.real.sum(), self.clutter.sum()
        if min(nr, nc) < self.min_n:
            return np.zeros(conf.shape)
        a, k = self.prior, self.bins
        pr = (self.real + a) / (nr + k * a)
        pc = (self.clutter + a) / (nc + k * a)
        ratio = 2.0 * np.log(pr / pc)
        return np.clip(ratio[self._bin(conf)], self.floor, 0.0)

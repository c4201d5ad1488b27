"""Weight-change detection: load-cell samples -> :class:`~fusion.types.ShelfEvent`.

Public API::

    det = WeightDetector(store, config=None)
    events = det.process(samples)   # chunk of WEIGHT_DTYPE samples
    events = det.flush()            # end of stream
    det.busy_since()                # earliest t_start of an unsettled plate, or None
    det.levels_g()                  # (n_cells,) settled level per plate, NaN unknown

See docs/weight-pipeline.md.
"""

from .config import WeightConfig
from .detector import WeightDetector
from .kalman import LevelKalman
from .merge import PlateChange, explains_whole_items, neighbour_matrix

__all__ = ["LevelKalman", "PlateChange", "WeightConfig", "WeightDetector",
           "explains_whole_items", "neighbour_matrix"]

"""Shopper tracking on the floor plane.

:class:`ShopperTracker` (floor + identity layer, damped-velocity motion
model) runs on the generic Kalman/assignment core :class:`TrackCore`, which
can also track other measurements (e.g. image boxes, constant velocity). See
docs/tracking.md.
"""

from fusion.tracking.config import ExitEvent, TrackerConfig, TrackWindow
from fusion.tracking.kalman_core import CoreConfig, KalmanTrack, TrackCore
from fusion.tracking.shopper import ShopperTracker

__all__ = [
    "CoreConfig",
    "ExitEvent",
    "KalmanTrack",
    "ShopperTracker",
    "TrackCore",
    "TrackWindow",
    "TrackerConfig",
]

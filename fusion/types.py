"""Data types shared by every layer of shelf-fusion.

Units: time ``t`` is seconds on one store clock, weights are grams, positions
are metres in the floor frame (x, y on the floor plane, z up).

Weight samples travel as numpy structured arrays of :data:`WEIGHT_DTYPE`
(one row per sample, ``cell`` an index into :attr:`Store.cells`); everything
rarer is a frozen, slotted dataclass. Arrays held by dataclasses are made
read-only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

#: One load-cell sample: store time (s), cell index, gross grams, flags.
#: ``grams`` is NaN when the controller gave no valid value (a gap).
WEIGHT_DTYPE = np.dtype([("t", "f8"), ("cell", "u2"), ("grams", "f4"), ("flags", "u1")])


class SampleFlag(enum.IntFlag):
    """Bits of the ``flags`` field of a weight sample."""

    NONE = 0
    STABLE = 1  #: the controller reports the reading as stable
    OVERLOAD = 2  #: above range (grams is NaN)
    UNDERLOAD = 4  #: below range (grams is NaN)
    ERROR = 8  #: controller error (grams is NaN)
    GAP = 16  #: no sample could be read; marks a gap in the stream


def readonly(a, dtype=np.float64, shape: tuple | None = None) -> np.ndarray:
    """Return ``a`` as a read-only float array, optionally checking its shape."""
    arr = np.array(a, dtype=dtype)
    if shape is not None and (arr.ndim != len(shape) or any(
            s is not None and s != d for s, d in zip(shape, arr.shape, strict=True))):
        raise ValueError(f"expected shape {shape}, got {arr.shape}")
    arr.setflags(write=False)
    return arr


def frozen_map(m: Mapping | None) -> Mapping:
    """Return an immutable view of a mapping (empty when ``None``)."""
    return MappingProxyType(dict(m or {}))


# --------------------------------------------------------------------- store


@dataclass(frozen=True, slots=True)
class Sku:
    """A catalogue product.

    Attributes:
        id: unique id, ``[A-Za-z0-9._-]+``.
        name: human-readable name.
        weight_g: mean unit weight, grams (> 0).
        weight_sd_g: unit-to-unit standard deviation, grams (>= 0).
        price: unit price in the store's currency, or ``None``.
    """

    id: str
    name: str
    weight_g: float
    weight_sd_g: float
    price: float | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    """One load-cell channel: a weighed plate or bin.

    Attributes:
        id: unique id.
        front: (2, 3) float, the front edge of the plate as a 3-D segment (m).
        skus: SKU ids the planogram stocks on it.
        sample_hz: nominal sample rate (Hz), or ``None``.
        noise_g: nominal noise standard deviation (g), or ``None``.
    """

    id: str
    front: np.ndarray
    skus: tuple[str, ...]
    sample_hz: float | None = None
    noise_g: float | None = None

    @property
    def reach_point(self) -> np.ndarray:
        """(3,) midpoint of the front edge (m)."""
        return self.front.mean(axis=0)


@dataclass(frozen=True, slots=True)
class Gate:
    """An entry/exit gate.

    Attributes:
        id: unique id.
        zone: (N, 2) floor polygon (m), N >= 3.
        kind: ``"entry"``, ``"exit"`` or ``"both"``.
    """

    id: str
    zone: np.ndarray
    kind: str

    @property
    def is_entry(self) -> bool:
        return self.kind in ("entry", "both")

    @property
    def is_exit(self) -> bool:
        return self.kind in ("exit", "both")


@dataclass(frozen=True, slots=True)
class Camera:
    """A camera (informational in floor-space recordings)."""

    id: str


@dataclass(frozen=True, slots=True, eq=False)
class Store:
    """A store layout as described by ``store.toml``.

    Attributes:
        name: store name.
        skus: SKU id -> :class:`Sku`.
        cells: the cells, in file order; a weight sample's ``cell`` indexes this.
        gates: the gates.
        cameras: the cameras (may be empty).
        source: the file it was read from ('' when built in code).
        extra: top-level tables the recording spec does not define (e.g.
            ``controller``), kept raw for the layers that use them.
    """

    name: str
    skus: Mapping[str, Sku]
    cells: tuple[Cell, ...]
    gates: tuple[Gate, ...]
    cameras: tuple[Camera, ...] = ()
    source: str = ""
    extra: Mapping[str, object] = field(default_factory=lambda: frozen_map(None))

    def cell_index(self) -> dict[str, int]:
        """Map cell id -> index into :attr:`cells`."""
        return {c.id: i for i, c in enumerate(self.cells)}


# -------------------------------------------------------------------- vision


@dataclass(frozen=True, slots=True)
class Hand:
    """A hand/wrist point seen by a camera.

    Attributes:
        p: (3,) position (m).
        holding: SKU id -> probability, a product-recognition guess (may be empty).
    """

    p: np.ndarray
    holding: Mapping[str, float] = field(default_factory=lambda: frozen_map(None))


@dataclass(frozen=True, slots=True)
class PersonDetection:
    """One anonymous person detection in one camera frame.

    Attributes:
        xy: (2,) floor position (m).
        conf: detector confidence, 0..1.
        hands: hand points of this person.
        track: identity hint from an external tracker, or ``None``.
    """

    xy: np.ndarray
    conf: float
    hands: tuple[Hand, ...] = ()
    track: str | None = None


@dataclass(frozen=True, slots=True)
class VisionFrame:
    """All person detections of one camera frame at time ``t`` (s)."""

    t: float
    camera: str
    people: tuple[PersonDetection, ...]


@dataclass(frozen=True, slots=True)
class GateTap:
    """An entry tap: account ``shopper`` entered at ``gate`` with ``party`` people."""

    t: float
    gate: str
    shopper: str
    party: int = 1


# --------------------------------------------------------------------- truth


@dataclass(frozen=True, slots=True)
class TruthEvent:
    """A true take (``qty`` > 0) or put-back (``qty`` < 0) at a plate.

    ``xy`` (m, floor plane) is where the person who did it stood, when the
    generator knows it (an extra key of ``truth.json``; used only to tell
    identity errors from attribution errors in the score diagnostics).
    """

    t: float
    shopper: str
    cell: str
    sku: str
    qty: int
    xy: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class TruthShopper:
    """A shopper's true visit: enter/exit times (s) and final basket."""

    id: str
    enter_t: float
    exit_t: float | None
    items: Mapping[str, int]


@dataclass(frozen=True, slots=True, eq=False)
class Truth:
    """Ground truth of a recording (``truth.json``)."""

    shoppers: Mapping[str, TruthShopper]
    events: tuple[TruthEvent, ...]


# ------------------------------------------------------------ engine outputs


@dataclass(frozen=True, slots=True)
class EventPart:
    """One settled step of a plate inside a :class:`ShelfEvent` that the
    detector summed from several steps (e.g. a put-back and, before the
    plate was quiet long enough to be sure, a take).

    Attributes:
        cell: plate index (into ``Store.cells``).
        t_start: when the plate left the stable state for this step (s).
        t_end: when it settled after it (s).
        delta_g: settled change of this step (g; negative = lighter).
        sd_g: standard deviation of ``delta_g`` (g).
    """

    cell: int
    t_start: float
    t_end: float
    delta_g: float
    sd_g: float


@dataclass(frozen=True, slots=True)
class ShelfEvent:
    """A settled change of weight on one plate or several neighbouring plates.

    Attributes:
        t_start: when the plate(s) left the stable state (s).
        t_end: when they settled again (s).
        t_final: stream time at which the event was decided (s), >= t_end.
        cells: indices of the plates involved (into ``Store.cells``).
        delta_g: per-plate settled change, grams (after - before; negative
            means the plate got lighter, i.e. something was taken).
        sd_g: per-plate standard deviation of ``delta_g`` (g).
        parts: the steps it was summed from, in time order, when the
            detector joined several (empty otherwise). An event whose parts
            cancel (a press and its release, or a put-back then somebody's
            take of the same item) has a net change near 0; the engine may
            split it between different hands.
    """

    t_start: float
    t_end: float
    t_final: float
    cells: tuple[int, ...]
    delta_g: tuple[float, ...]
    sd_g: tuple[float, ...]
    parts: tuple[EventPart, ...] = ()

    @property
    def total_g(self) -> float:
        """Net change over all plates of the event (g)."""
        return float(sum(self.delta_g))

    @property
    def total_sd_g(self) -> float:
        """Standard deviation of :attr:`total_g` (g)."""
        return float(np.sqrt(sum(s * s for s in self.sd_g)))


@dataclass(frozen=True, slots=True)
class ItemHypothesis:
    """One explanation of a shelf event.

    Attributes:
        items: ((sku, qty), ...) with qty > 0 taken from the shelf, < 0 put
            back; empty means "no item" (a disturbance).
        probability: posterior probability, 0..1.
    """

    items: tuple[tuple[str, int], ...]
    probability: float


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One take/return on a receipt (the evidence trail).

    ``xy`` (m, floor plane) is where the track charged with it stood at ``t``
    (an extra key of ``receipts.json``, for diagnosis; ``None`` if unknown).
    """

    t: float
    cell: str
    sku: str
    qty: int
    confidence: float
    xy: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The engine's decision for one tapped account.

    Attributes:
        shopper: account id from ``gates.csv``.
        items: SKU -> count charged (positive counts only).
        review: True when a person must check it before charging.
        confidence: probability that ``items`` is exactly right, 0..1.
        exit_t: when the (last member of the) party left, or ``None``.
        decided_t: stream time at which the receipt was finalised (s).
        lines: evidence, one per attributed take/return.
        reasons: why it needs review (short strings).
    """

    shopper: str
    items: Mapping[str, int]
    review: bool
    confidence: float
    exit_t: float | None
    decided_t: float
    lines: tuple[ReceiptLine, ...] = ()
    reasons: tuple[str, ...] = ()

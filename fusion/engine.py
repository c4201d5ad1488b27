"""The online fusion engine: merged stream in, receipts out.

The engine consumes weight chunks, camera frames and gate taps in time order
(see :meth:`fusion.recording.Recording.stream`) and never looks ahead: a
shelf event is attributed only once the stream has reached the time it was
decided (so every camera frame up to then has been seen), and a receipt is
finalised at a stream time ``decided_t`` after which nothing more is used
for it.

Data path: weight chunks -> :class:`fusion.weight.WeightDetector` ->
:class:`fusion.types.ShelfEvent` -> :func:`fusion.attribution.attribute`
(who, using :class:`fusion.tracking.ShopperTracker` windows) ->
:class:`fusion.inference.ItemInference` (what) -> :class:`fusion.receipt.ReceiptBook`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from fusion.attribution import (
    UNKNOWN,
    AttributionConfig,
    Candidate,
    HandSpreadEstimator,
    allocate_units,
    attribute,
    favour,
    holding_cues,
    joint_attribution,
    segment_distance,
    weigh_by_product,
)
from fusion.change_time import change_time, unit_times
from fusion.inference import ItemInference
from fusion.parts import (
    PartSplitConfig,
    clear_step,
    crossed_pair,
    item_groups,
    most_present,
    own_pair,
    part_events,
    plateau_parts,
    split_by_hands,
    step_presence,
    transfer_parts,
)
from fusion.receipt import ReceiptBook, ReceiptConfig
from fusion.resting import (
    Residue,
    RestingConfig,
    carry_residue,
    fit_z,
    join_resting_splits,
    shed_pressed_plates,
)
from fusion.tracking import ExitEvent, ShopperTracker, TrackerConfig
from fusion.types import (
    GateTap,
    ItemHypothesis,
    Receipt,
    ReceiptLine,
    ShelfEvent,
    Store,
    VisionFrame,
)
from fusion.weight import WeightConfig, WeightDetector

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Tunables of the engine.

    Attributes:
        weight_batch_s: weight samples are buffered and processed in batches
            of this much stream time (s); adds at most this latency.
        recent_s: raw weight samples are kept this long (s), to look inside
            an interaction that left no net change (see :mod:`fusion.parts`).
        group_wait_s: a shelf event waits this long (s) after it is final for
            events that overlap it in time, which are then attributed jointly.
        group_margin_s: events closer in time than this (s) count as overlapping.
        exit_wait_s: after an exit, wait at most this long (s) for unsettled
            plates to settle before deciding the receipt.
        partner_wait_s: after an exit, wait at most this long (s) while an
            account the leaving track may have swapped with (probability at
            least ``partner_wait_p``) is still inside: if the tracks swapped,
            the person who left was the partner, and what the partner's track
            takes from now on is this receipt's; its doubts are collected
            until the partner leaves too. 0 decides at once.
        partner_wait_p: see ``partner_wait_s``.
        doubt_floor: doubts below this probability are not recorded.
        lost_s: at the end of the stream, a shopper who never left and was
            last seen more than this long before it (s), or never, gets the
            doubt ``lost_doubt`` (0..1): they may have shopped unseen.
        lost_doubt: also the doubt on a party that left with members never
            seen inside (see ``Engine._finalise``).
        hands_clear_m: vision tells the weight path when no hand can be on a
            plate (:meth:`fusion.weight.WeightDetector.hands_away`): nobody
            the tracker has on the floor (tracks, tentative ones included,
            and detections of the frame) stands within this distance (m),
            plus two standard deviations of their position, of the plate's
            front edge. A small weight increase that could be a hand leaning
            is then decided at once instead of after ``lean_hold_s``.
            ``None`` turns the cue off.
        hands_lost_s: tracks lost less than this long ago (s) still count as
            possibly near (at their last position, see
            :meth:`fusion.tracking.ShopperTracker.people_at`).
        hands_cue_s: the cue is worked out at most this often (s of stream time).
        resting: when two events of one plate are one take split by a
            resting hand, see :class:`fusion.resting.RestingConfig`.
        parts: when an event made of several steps (a put-back then a take,
            two takes) is split between the hands that made them, see
            :class:`fusion.parts.PartSplitConfig`.
        weight: the weight detector's tunables (``keep_cancelled`` is set).
        attribution: see :class:`fusion.attribution.AttributionConfig`.
        receipts: see :class:`fusion.receipt.ReceiptConfig`.
        tracker: see :class:`fusion.tracking.TrackerConfig`.
    """

    weight_batch_s: float = 0.2
    recent_s: float = 12.0
    group_wait_s: float = 1.5
    group_margin_s: float = 0.3
    exit_wait_s: float = 3.0
    partner_wait_s: float = 120.0
    partner_wait_p: float = 0.05
    doubt_floor: float = 0.01
    lost_s: float = 10.0
    lost_doubt: float = 0.5
    hands_clear_m: float | None = 1.2
    hands_lost_s: float = 2.0
    hands_cue_s: float = 0.1
    resting: RestingConfig = field(default_factory=RestingConfig)
    parts: PartSplitConfig = field(default_factory=PartSplitConfig)
    weight: WeightConfig = field(default_factory=lambda: WeightConfig(keep_cancelled=True))
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    receipts: ReceiptConfig = field(default_factory=ReceiptConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


@dataclass(frozen=True, slots=True)
class EventDecision:
    """What the engine decided about one shelf event (for diagnostics and plots).

    Attributes:
        event: the shelf event.
        account: the account charged, or ``None`` when nobody could be.
        items: ((sku, qty), ...) of the chosen hypothesis.
        p_items: probability of that hypothesis.
        candidates: attribution candidates.
    """

    event: ShelfEvent
    account: str | None
    items: tuple[tuple[str, int], ...]
    p_items: float
    candidates: tuple[Candidate, ...]


class Engine:
    """Online engine for one store.

    Args:
        store: the layout.
        config: tunables.
    """

    def __init__(self, store: Store, config: EngineConfig | None = None):
        self.store = store
        self.config = config or EngineConfig()
        self.weights = WeightDetector(store, self.config.weight)
        self.inference = ItemInference(store, levels_g=self.weights.levels_g)
        self.tracker = ShopperTracker(store, self.config.tracker)
        self.book = ReceiptBook(self.config.receipts)
        self.decisions: list[EventDecision] = []
        self.hand_spread = HandSpreadEstimator(prior_m=self.config.attribution.hand_sd_m)
        self.now = -math.inf
        self._wbuf: list[np.ndarray] = []
        self._wbuf_t0 = math.inf
        self._recent: collections.deque[np.ndarray] = collections.deque()  # raw weight chunks
        self._pending: list[ShelfEvent] = []
        self._cancelled: list[ShelfEvent] = []  # events with no net change (see fusion.parts)
        self._exits: dict[str, ExitEvent] = {}
        self._held: set[str] = set()  # receipts due but waiting for a swap partner to leave
        self._residues: dict[int, Residue] = {}  # grams a resting hand left per plate
        fronts = np.array([c.front[:, :2] for c in store.cells], float).reshape(-1, 2, 2)
        self._front_a, self._front_b = fronts[:, 0], fronts[:, 1]  # (n, 2) front edges, floor plane
        self._cue_t = -math.inf

    # ------------------------------------------------------------- input
    def feed(self, item: np.ndarray | VisionFrame | GateTap) -> list[Receipt]:
        """Consume one stream item; returns receipts decided by it."""
        if isinstance(item, np.ndarray):
            if len(item):
                self._wbuf.append(item)
                self._wbuf_t0 = min(self._wbuf_t0, float(item["t"][0]))
                self.now = max(self.now, float(item["t"][-1]))
                if self.now - self._wbuf_t0 >= self.config.weight_batch_s:
                    self._flush_weights()
            return self._advance()
        if isinstance(item, VisionFrame):
            self.now = max(self.now, item.t)
            self.tracker.update(item)
            self._hands_cue(item)
        elif isinstance(item, GateTap):
            self.now = max(self.now, item.t)
            self.book.open(item.shopper, item.t)
            self.tracker.tap(item)
        else:
            raise TypeError(f"cannot feed {type(item).__name__} to the engine")
        return self._advance()

    def finish(self) -> list[Receipt]:
        """End of stream: decide everything that is left; returns those receipts."""
        self._flush_weights()
        self._queue(self.weights.flush())
        self._decide_due(math.inf)
        for ex in self.tracker.pop_exits(self.now):
            self._exits.setdefault(ex.account, ex)
        out = []
        end = self.now if math.isfinite(self.now) else 0.0
        for account in list(self.book.ledgers):
            if self.book.is_open(account):
                out.append(self._finalise(account, self._exits.get(account), end))
        return out

    def _finalise(self, account: str, ex: ExitEvent | None, t: float) -> Receipt:
        """Decide ``account``'s receipt at stream time ``t`` (s), after its
        exit ``ex`` (``None``: the stream ended first), with the doubt
        ``lost_doubt`` when people of its party may have shopped unseen:

        * it left with members never seen inside (fewer tracks were ever
          bound to it than its tap's party): they may be shopping still,
          unseen or on another account's track;
        * nobody saw it leave and the tracker lost it more than ``lost_s``
          before ``t`` (or never saw it): what it took since is on nobody's
          receipt or on someone else's. A shopper still in view at the end
          is only not finished (a recording cut while the store is open).
        """
        if ex is not None:
            if ex.unseen > 0:
                self._doubt(account, self.config.lost_doubt, f"party member(s) never seen inside: {ex.unseen}")
        else:
            seen = self.tracker.last_seen(account)
            if seen is None:
                self._doubt(account, self.config.lost_doubt, "never seen inside")
            elif t - seen > self.config.lost_s:
                self._doubt(account, self.config.lost_doubt,
                            f"lost from view at t={seen:.1f}, not seen leaving")
        return self.book.finalise(account, ex.exit_t if ex else None, t)

    def receipts(self) -> list[Receipt]:
        """Every receipt decided so far, in tap order."""
        return [self.book.receipts[a] for a in self.book.ledgers if a in self.book.receipts]

    # ---------------------------------------------------------- internals
    def _flush_weights(self) -> None:
        if not self._wbuf:
            return
        chunk = self._wbuf[0] if len(self._wbuf) == 1 else np.concatenate(self._wbuf)
        self._wbuf = []
        self._wbuf_t0 = math.inf
        self._recent.append(chunk)
        while float(self._recent[0]["t"][-1]) < self.now - self.config.recent_s:
            self._recent.popleft()
        self._queue(self.weights.process(chunk))

    def _hands_cue(self, frame: VisionFrame) -> None:
        """Tell the weight path which plates nobody can reach at ``frame.t``
        (see ``EngineConfig.hands_clear_m``)."""
        cfg = self.config
        if cfg.hands_clear_m is None or frame.t < self._cue_t + cfg.hands_cue_s or not len(self._front_a):
            return
        self._cue_t = frame.t
        xy, sd = self.tracker.people_at(frame.t, cfg.hands_lost_s)
        if frame.people:
            xy = np.vstack([xy, [p.xy for p in frame.people]])
            sd = np.concatenate([sd, np.zeros(len(frame.people))])
        if len(xy):
            d = segment_distance(xy, self._front_a, self._front_b)  # (people, plates) m
            clear = ~(d <= cfg.hands_clear_m + 2.0 * sd[:, None]).any(0)
        else:
            clear = np.ones(len(self._front_a), bool)
        if clear.any():
            self.weights.hands_away(np.flatnonzero(clear), frame.t)

    def _queue(self, events: list[ShelfEvent]) -> None:
        """Pending events wait to be grouped; cancelled ones (no net change) are
        decided alone, never bridging two groups."""
        for ev in events:
            cancelled = abs(ev.total_g) < self.config.parts.cancelled_g
            (self._cancelled if cancelled else self._pending).append(ev)
        self._pending.sort(key=lambda e: e.t_final)
        self._cancelled.sort(key=lambda e: e.t_final)

    def _decide_due(self, wait_s: float) -> None:
        """Decide every group of events whose first event is final for ``wait_s``."""
        while self._cancelled and self._cancelled[0].t_final + wait_s <= self.now:
            self._decide_group([self._cancelled.pop(0)])
        while self._pending and self._pending[0].t_final + wait_s <= self.now:
            group = [self._pending.pop(0)]
            grew = True
            while grew:
                lo = min(e.t_start for e in group) - self.config.group_margin_s
                hi = max(e.t_end for e in group) + self.config.group_margin_s
                join = [e for e in self._pending if e.t_final <= self.now and (
                    (e.t_start <= hi and e.t_end >= lo) or self._same_plates_next(e, group))]
                grew = bool(join)
                group += join
                self._pending = [e for e in self._pending if e not in join]
            self._decide_group(group)

    def _same_plates_next(self, ev: ShelfEvent, group: list[ShelfEvent]) -> bool:
        """``ev`` follows an event of ``group`` on the same plates closely
        enough to be the rest of it (see :mod:`fusion.resting`)."""
        gap = self.config.resting.gap_s
        return any(g.cells == ev.cells and 0.0 <= ev.t_start - g.t_end <= gap for g in group)

    def _decide_group(self, events: list[ShelfEvent]) -> None:
        events = self._without_presses(events)
        if len(events) > 1:
            events = join_resting_splits(events, self.store, self.inference, self.config.resting)
        att = dataclasses.replace(self.config.attribution, hand_sd_m=self.hand_spread.value(),
                                  hand_points=self._hand_points())
        split = [item for ev in events for item in self._split_parts(ev, att)]
        if not split:
            return
        events = [ev for ev, _ in split]
        per_event = [cands for _, cands in split]
        for cands in per_event:
            self.hand_spread.observe(cands)
        if len(events) > 1:
            per_event = joint_attribution(per_event, att)
        for ev, cands in zip(events, per_event, strict=True):
            self._decide_event(ev, cands)

    def _without_presses(self, events: list[ShelfEvent]) -> list[ShelfEvent]:
        """Plates only a resting hand pressed dropped from events; their grams
        added to those plates' next change when that fits items better (see
        :mod:`fusion.resting`)."""
        cfg = self.config.resting
        out = []
        for ev in sorted(events, key=lambda e: e.t_start):
            ev = carry_residue(ev, self._residues, self.inference, cfg)
            ev, residues = shed_pressed_plates(ev, self.inference, cfg)
            for r in residues:
                log.info("plate %s: %+.1f g of a resting hand set aside at t=%.2f",
                         self.store.cells[r.cell].id, r.grams, r.t)
                self._residues[r.cell] = r
            out.append(ev)
        return out  # at most one residue per plate is kept: no clean-up needed

    def _candidates(self, ev: ShelfEvent, att: AttributionConfig) -> list[Candidate]:
        windows = self.tracker.window(ev.t_start - max(att.pre_s, att.holding_before_s),
                                      ev.t_end + max(att.post_s, att.holding_after_s))
        t_change = self._change_time(ev, att) if att.change_sd_s > 0 else None
        cands = self._open_candidates(attribute(ev, self.store, windows, att, t_change))
        return self._product_cue(ev, cands, att)

    def _hand_points(self) -> int:
        """``AttributionConfig.hand_points`` for the cameras' frame rate: a
        reach leaves fewer hand points with slower cameras, so the score
        averages fewer (divided by ``ShopperTracker.frame_scale``, rounded
        down, at least 1)."""
        return max(1, int(self.config.attribution.hand_points / self.tracker.frame_scale + 1e-9))

    def _change_time(self, ev: ShelfEvent, att: AttributionConfig | None = None) -> float | None:
        """When the event's largest plate changed (s), from the raw samples
        kept (see :func:`fusion.change_time.change_time`; ``att`` defaults to
        the engine's attribution config); ``None`` when they do not show it."""
        att = att or self.config.attribution
        k = int(np.argmax(np.abs(ev.delta_g)))
        c = ev.cells[k]
        t, g = self._plate_samples(c, ev.t_start - 1.0, ev.t_end + 0.8)
        # a step the size of the noise matches anything: only reportable changes look for one
        min_step = max(self.config.weight.min_change_g, 5.0 * float(self.weights.noise_g()[c]))
        return change_time(t, g, float(ev.delta_g[k]), ev.t_start, ev.t_end,
                           att.change_step_gap_s, att.change_step_span_s, att.change_step_tol,
                           min_step)

    def _split_parts(self, ev: ShelfEvent, att: AttributionConfig,
                     ) -> list[tuple[ShelfEvent, list[Candidate]]]:
        """``ev``, or its parts when different hands made them (see
        :mod:`fusion.parts`), each with its attribution candidates (a part's
        hands are looked for in a narrower window)."""
        cfg = self.config.parts
        cancelled = abs(ev.total_g) < cfg.cancelled_g
        cands = None if cancelled else self._candidates(ev, att)
        settled = bool(ev.parts)  # the detector saw each step settle (not a plateau we found)
        if not ev.parts and (cancelled or self._two_hands(ev, cands)):
            ev = dataclasses.replace(ev, parts=self._plateau_parts(ev))
        if not ev.parts:
            return self._transfer(ev, att) if cancelled else [(ev, cands)]

        @functools.cache  # split_by_hands and then own_pair may ask about the same parts
        def who(sub: ShelfEvent) -> tuple[str | None, float]:
            windows = self.tracker.window(sub.t_start - 1.0, sub.t_end + 1.0)
            scores = step_presence([w for w in windows if w.account is None or self._chargeable(w.account)],
                                   self.store.cells[sub.cells[0]].front, sub.t_start, sub.t_end,
                                   att.hand_sd_m, cfg)
            return most_present(scores, cfg)

        @functools.cache
        def what(sub: ShelfEvent) -> ItemHypothesis:
            return self.inference.hypotheses(sub)[0]

        out = split_by_hands(ev, who, what, cfg)
        fit = functools.partial(fit_z, store=self.store)
        if len(out) == 1 and settled and not clear_step(ev, what(ev), fit, cfg):
            groups = item_groups(ev, what, fit, cfg)
            if groups is not None:  # one hand's put-back and take, or two takes, in one reach
                log.info("event at t=%.2f regrouped into %d item steps by their settled grams",
                         ev.t_end, len(groups))
                out = groups
        if len(out) > 1:
            log.info("event at t=%.2f split into %d parts made by different hands", ev.t_end, len(out))
            narrow = dataclasses.replace(att, pre_s=cfg.time_sd_s, post_s=cfg.time_sd_s)
            return [(sub, self._candidates(sub, narrow)) for sub in out]
        if not out:  # a cancelled pair: one hand's pick and put-back, or steps no hand clearly made
            mine = own_pair(ev, who, what, cfg) if settled else None
            if mine is not None:
                self._record_own_pair(*mine)
                return []
            return self._transfer(ev, att)
        return [(e, cands if cands is not None else self._candidates(e, att)) for e in out]

    def _record_own_pair(self, account: str, steps: list[tuple[ShelfEvent, ItemHypothesis, float]]) -> None:
        """Evidence lines for one account's pick and put-back of the same item:
        no change to what it is charged, and no doubt (whoever made the pair,
        nobody's basket changes)."""
        if not self._chargeable(account):
            return
        for sub, top, p_who in steps:
            t_mid = 0.5 * (sub.t_start + sub.t_end)
            for sku, qty in top.items:
                self._add_line(account, sub, sku, qty, t_mid, top.probability * p_who)
            self.decisions.append(EventDecision(sub, account, top.items, top.probability, ()))
            self.inference.note_moved(sub.cells, top.items)

    def _two_hands(self, ev: ShelfEvent, cands: list[Candidate]) -> bool:
        """More than one account may have made this one-plate event."""
        if len(ev.cells) != 1:
            return False
        named = [c for c in cands if c.account != UNKNOWN]
        return len(named) > 1 and named[1].probability >= self.config.parts.ambiguous_p

    def _plate_samples(self, c: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """(times s, grams) of plate ``c`` in [lo, hi] from the raw samples kept, gaps removed."""
        chunks = [ch for ch in self._recent if ch["t"][-1] >= lo and ch["t"][0] <= hi]
        if not chunks:
            return np.zeros(0), np.zeros(0)
        s = np.concatenate(chunks)
        s = s[(s["cell"] == c) & (s["t"] >= lo) & (s["t"] <= hi) & np.isfinite(s["grams"])]
        return s["t"].astype(float), s["grams"].astype(float)

    def _plate_units(self, c: int) -> dict[str, tuple[float, float]]:
        """SKU stocked on plate ``c`` -> (unit mean g, unit sd g)."""
        skus = [self.store.skus[k] for k in self.store.cells[c].skus if k in self.store.skus]
        return {k.id: (k.weight_g, k.weight_sd_g) for k in skus}

    def _plateau_parts(self, ev: ShelfEvent) -> tuple:
        """Parts of a one-plate event at an item-like plateau, from the raw
        samples kept (see :func:`fusion.parts.plateau_parts`)."""
        if len(ev.cells) != 1:
            return ()
        c = ev.cells[0]
        t, g = self._plate_samples(c, ev.t_start - 1.0, ev.t_end + 0.5)
        if len(t) == 0:
            return ()
        return plateau_parts(t, g, ev, list(self._plate_units(c).values()),
                             float(self.weights.noise_g()[c]), self.config.parts)

    def _transfer(self, ev: ShelfEvent, att: AttributionConfig,
                  ) -> list[tuple[ShelfEvent, list[Candidate]]]:
        """A cancelled one-plate episode that vision says was one account's
        put-back and another's take of the same item (see
        :func:`fusion.parts.transfer_parts`), as those two events; else nothing,
        and a doubt on both receipts when two shoppers may have made it
        (:meth:`_crossed_doubt`)."""
        if len(ev.cells) != 1:
            return []
        cfg = self.config.parts
        # who was at the plate during the episode; a hand staying after its
        # net-zero "change" says nothing (the episode has no moment of change)
        cands = self._candidates(ev, dataclasses.replace(att, linger_factor=1.0))
        present = {c.account: c.probability for c in cands if c.account != UNKNOWN}
        c = ev.cells[0]
        t, g = self._plate_samples(c, ev.t_start - 1.0, ev.t_end + 0.5)
        windows = self.tracker.window(ev.t_start - cfg.transfer_before_s, ev.t_end + cfg.transfer_after_s)

        def cues(account: str, t0: float, t1: float) -> dict[str, float]:
            return holding_cues([w for w in windows if w.account == account], t0, t1)

        found = transfer_parts(t, g, ev, self._plate_units(c), cues, present,
                               float(self.weights.noise_g()[c]), cfg)
        if found is None:
            self._crossed_doubt(ev, t, g, {a: p for a, p in present.items() if self._chargeable(a)})
            return []
        log.info("event at t=%.2f: %s put back and %s took %s", ev.t_end, found.giver, found.taker, found.sku)
        narrow = dataclasses.replace(att, pre_s=cfg.time_sd_s, post_s=cfg.time_sd_s)
        out = []
        for sub in part_events(dataclasses.replace(ev, parts=found.parts)):
            who = found.giver if sub.total_g > 0 else found.taker
            sub_cands = self._candidates(sub, narrow)
            if not any(x.account == who for x in sub_cands):
                sub_cands = cands
            out.append((sub, favour(sub_cands, who, found.probability)))
        return out

    def _crossed_doubt(self, ev: ShelfEvent, t: np.ndarray, g: np.ndarray,
                       present: dict[str, float]) -> None:
        """Doubt on both receipts when a cancelled episode may have been two
        shoppers' put-back and take (see :func:`fusion.parts.crossed_pair`)."""
        c = ev.cells[0]
        found = crossed_pair(t, g, ev.t_start, present, list(self._plate_units(c).values()),
                             self.config.parts)
        if found is None:
            return
        a, b, p = found
        cell = self.store.cells[c].id
        log.info("event at t=%.2f: %s and %s may have swapped an item at %s", ev.t_end, a, b, cell)
        for x, y in ((a, b), (b, a)):
            self.book.add_shared_doubt(x, ("crossed", c, ev.t_start), p,
                                       f"may have put back or taken an item with {y} at {cell} "
                                       f"t={ev.t_start:.1f}")

    def _product_cue(self, ev: ShelfEvent, cands: list[Candidate], att) -> list[Candidate]:
        """Let vision's product guesses say who carried the event's items."""
        top = self.inference.hypotheses(ev)[0]
        if not top.items:
            return cands
        return weigh_by_product(cands, {sku for sku, _ in top.items}, top.items[0][1] > 0, att)

    def _advance(self) -> list[Receipt]:
        self._decide_due(self.config.group_wait_s)
        for ex in self.tracker.pop_exits(self.now):
            if self.book.is_open(ex.account):
                self._exits.setdefault(ex.account, ex)
        return self._decide_exits() if self._exits else []

    def _decide_exits(self) -> list[Receipt]:
        out = []
        for account, ex in list(self._exits.items()):
            if not self.book.is_open(account):
                continue
            if self.now < ex.decided_t:
                continue
            if account in self._held:
                if not self._partner_open(account, ex):
                    self._held.discard(account)
                    out.append(self._finalise(account, ex, self.now))
                continue
            self._flush_weights()
            self._decide_due(0.0)
            busy = self.weights.busy_since()
            waiting = (busy is not None and busy <= ex.exit_t) or any(
                e.t_start <= ex.exit_t for e in self._pending)
            if waiting and self.now < ex.decided_t + self.config.exit_wait_s:
                continue
            if self._partner_open(account, ex):
                self._held.add(account)  # takes no more charges, still collects doubts
                continue
            out.append(self._finalise(account, ex, self.now))
        return out

    def _partner_open(self, account: str, ex: ExitEvent) -> bool:
        """True while, within ``partner_wait_s`` of the exit, an account the
        leaving track may have swapped with still has an undecided receipt
        and is not itself only waiting (its events still come in)."""
        if self.now >= ex.decided_t + self.config.partner_wait_s:
            return False
        return any(self.book.is_open(o) and o not in self._held
                   for o in self.tracker.partners(account, self.config.partner_wait_p))

    def _chargeable(self, account: str) -> bool:
        """Open, and not a receipt that is only waiting for a swap partner to leave."""
        return self.book.is_open(account) and account not in self._held

    def _open_candidates(self, cands: list[Candidate]) -> list[Candidate]:
        """Drop accounts already decided, renormalise."""
        keep = [c for c in cands if c.account == UNKNOWN or self._chargeable(c.account)]
        total = sum(c.probability for c in keep) or 1.0
        return [dataclasses.replace(c, probability=c.probability / total) for c in keep]

    def _decide_event(self, ev: ShelfEvent, cands: list[Candidate]) -> None:
        best = cands[0]
        where = self.store.cells[ev.cells[int(np.argmax(np.abs(ev.delta_g)))]].id
        t_mid = 0.5 * (ev.t_start + ev.t_end)
        if best.account == UNKNOWN:
            hyps = self.inference.hypotheses(ev)
            top = hyps[0]
            if top.items:
                log.info("event at %s t=%.2f (%s) attributed to nobody", where, t_mid, top.items)
                what = f"{_fmt(top.items)} at {where} t={t_mid:.1f}"
                for c in cands[1:]:
                    self._doubt(c.account, c.probability, f"may have made {what}")
                self._doubt_unseen(cands, best.probability * top.probability, what)
            self.decisions.append(EventDecision(ev, None, top.items, top.probability, tuple(cands)))
            self.inference.note_moved(ev.cells, top.items)
            return
        hyps = self.inference.hypotheses(ev, basket=dict(self.book.basket(best.account)),
                                         holding=best.holding or None)
        top = hyps[0]
        self.decisions.append(EventDecision(ev, best.account, top.items, top.probability, tuple(cands)))
        self.inference.note_moved(ev.cells, top.items)
        if not top.items:
            self._doubt(best.account, 1.0 - top.probability, f"possible item at {where} t={t_mid:.1f}")
            return
        shares, p_split = self._shares(ev, top.items, cands)
        what = f"{_fmt(top.items)} at {where} t={t_mid:.1f}"
        if len(shares) > 1:
            self._charge_split(ev, top, cands, shares, p_split, t_mid, what)
            return
        p_line = top.probability * best.probability * best.identity_conf
        for sku, qty in top.items:
            self._add_line(best.account, ev, sku, qty, t_mid, p_line, best.xy)
        self._doubt(best.account, 1.0 - top.probability, f"item count/kind uncertain: {what}")
        self._doubt(best.account, 1.0 - best.probability, f"who took it uncertain: {what}")
        if shares:  # several units, all to one account: someone else may have taken some
            self._doubt(best.account, 1.0 - p_split, f"shared take, split uncertain: {what}")
        self._identity_doubt(best, what, ev.t_end)
        for c in cands[1:]:
            self._doubt(c.account, c.probability, f"may have made {what}")

    def _shares(self, ev: ShelfEvent, items, cands) -> tuple[tuple[tuple[str, int], ...], float]:
        """Split a multi-unit, one-signed event among accounts that touched it."""
        units = sum(abs(q) for _, q in items)
        signs = {q > 0 for _, q in items}
        if units < 2 or len(signs) != 1:
            return (), 0.0
        att = self.config.attribution
        return allocate_units(cands, units, att, self._unit_presence(ev, units, cands))

    def _unit_presence(self, ev: ShelfEvent, units: int, cands: list[Candidate],
                       ) -> dict[str, list[float]] | None:
        """Account -> how surely its hands were at the event's largest plate
        when each unit moved (:func:`fusion.change_time.unit_times`,
        :func:`fusion.parts.step_presence`); ``None`` with fewer than two
        named accounts or when the readings do not time the units."""
        named = [c.account for c in cands if c.account != UNKNOWN][: self.config.attribution.max_split_accounts]
        if len(named) < 2:
            return None
        k = int(np.argmax(np.abs(ev.delta_g)))
        c = ev.cells[k]
        t, g = self._plate_samples(c, ev.t_start - 1.0, ev.t_end + 0.8)
        times = unit_times(t, g, units, ev.t_start, ev.t_end)
        if times is None:
            return None
        windows = [w for w in self.tracker.window(ev.t_start - 1.0, ev.t_end + 1.0) if w.account in named]
        front, cfg = self.store.cells[c].front, self.config.parts
        out: dict[str, list[float]] = {a: [] for a in named}
        for tu in times:
            scores = step_presence(windows, front, tu, tu, self.config.attribution.hand_sd_m, cfg)
            for a in named:
                out[a].append(scores.get(a, 0.0) + cfg.unseen)
        return out

    def _charge_split(self, ev, top, cands, shares, p_split, t_mid, what) -> None:
        sign = 1 if top.items[0][1] > 0 else -1
        unit_skus = [sku for sku, q in top.items for _ in range(abs(q))]
        by_account = {c.account: c for c in cands}
        k = 0
        for account, n in shares:
            c = by_account[account]
            p_line = top.probability * p_split * c.identity_conf
            for sku in sorted(set(unit_skus[k:k + n])):
                self._add_line(account, ev, sku, sign * unit_skus[k:k + n].count(sku), t_mid, p_line, c.xy)
            k += n
            self._doubt(account, 1.0 - top.probability, f"item count/kind uncertain: {what}")
            self._doubt(account, 1.0 - p_split, f"shared take, split uncertain: {what}")
            self._identity_doubt(c, what, ev.t_end)
        sharing = {a for a, _ in shares}
        for c in cands:
            if c.account not in sharing:
                self._doubt(c.account, c.probability, f"may have made {what}")

    def _add_line(self, account: str, ev: ShelfEvent, sku: str, qty: int, t: float, p: float,
                  xy: tuple[float, float] | None = None) -> None:
        self.book.add_line(account, ReceiptLine(t=round(t, 3), cell=self._line_cell(ev, sku), sku=sku,
                                                qty=qty, confidence=round(p, 6), xy=xy))

    def _doubt_unseen(self, cands: list[Candidate], p_unseen: float, what: str) -> None:
        """A take nobody we can name made: it may be any account inside that no camera placed there."""
        named = {c.account for c in cands}
        hidden = [a for a in self.book.ledgers
                  if self._chargeable(a) and a not in self._exits and a not in named]
        for a in hidden:
            self._doubt(a, p_unseen / len(hidden), f"unattributed {what}: this shopper was not seen")

    def _identity_doubt(self, c: Candidate, what: str, t_end: float) -> None:
        """If a track carries the wrong account, every event on it is wrong together:
        one doubt per (account, tracks), not one per event. The accounts its track
        may have swapped with before ``t_end`` (s) get the same doubt: if the swap
        happened, their receipts lack what this track did."""
        p = 1.0 - c.identity_conf
        if c.account == UNKNOWN or p < self.config.doubt_floor:
            return
        self.book.add_shared_doubt(c.account, ("identity", c.track_ids), p,
                                   f"shopper identity uncertain: {what}")
        # a swap is wrong on both receipts: the partner's lacks what this track did
        for other, q in self.tracker.swap_partners(c.track_ids, t_end).items():
            q = min(q, p)
            if other != c.account and q >= self.config.doubt_floor:
                self.book.add_shared_doubt(other, ("swap", c.account, c.track_ids), q,
                                           f"may have been swapped with {c.account}: {what}")

    def _doubt(self, account: str, p: float, reason: str) -> None:
        if account != UNKNOWN and p >= self.config.doubt_floor:
            self.book.add_doubt(account, p, reason)

    def _line_cell(self, ev: ShelfEvent, sku: str) -> str:
        order = np.argsort(-np.abs(np.asarray(ev.delta_g)))
        for i in order:
            cell = self.store.cells[ev.cells[i]]
            if sku in cell.skus:
                return cell.id
        return self.store.cells[ev.cells[int(order[0])]].id


def _fmt(items) -> str:
    return ", ".join(f"{q:+d} {s}" for s, q in items)


def run(store: Store, stream: Iterable, config: EngineConfig | None = None,
        on_receipt: Callable[[Receipt], None] | None = None) -> Engine:
    """Run the engine over a whole stream; ``on_receipt`` sees each receipt as it is decided."""
    eng = Engine(store, config)
    for item in stream:
        for r in eng.feed(item):
            if on_receipt:
                on_receipt(r)
    for r in eng.finish():
        if on_receipt:
            on_receipt(r)
    return eng

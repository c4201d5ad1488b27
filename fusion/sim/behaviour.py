"""Plan what every shopper does: arrivals, taps, walks, reaches, takes,
put-backs, leans; and the resulting true load on every plate.

The plan is small (a few records per action) and is made once per run; the
dense signals (weights, vision) are generated from it block by block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fusion.sim.layout import Facing, Layout
from fusion.sim.loadcell import LoadTimeline
from fusion.sim.scenario import Scenario
from fusion.types import GateTap, Truth, TruthEvent, TruthShopper, frozen_map


@dataclass(slots=True)
class Reach:
    """One hand movement to a shelf and back (times in s, target (3,) m).

    The hand leaves the body at ``t_out``, touches the shelf ``t_c0..t_c1``
    and is back at ``t_back``. ``carry_after`` is the SKU it carries back
    (a take); ``carry_before`` the SKU it brings (a put-back).
    """

    hand: int
    t_out: float
    t_c0: float
    t_c1: float
    t_back: float
    target: np.ndarray
    carry_after: str | None = None
    carry_before: str | None = None


@dataclass(slots=True)
class Person:
    """One person on the floor: a piecewise-linear path and hand reaches.

    Attributes:
        account: the account charged for what they take.
        path: (n, 3) rows of (t_s, x_m, y_m), t increasing.
        reaches: hand movements, in time order per hand.
        basket: items carried: (sku, weight_g, facing index).
    """

    account: str
    path: np.ndarray
    reaches: list[Reach] = field(default_factory=list)
    basket: list[tuple[str, float, int]] = field(default_factory=list)

    @property
    def t_start(self) -> float:
        return float(self.path[0, 0])

    @property
    def t_end(self) -> float:
        return float(self.path[-1, 0])


@dataclass(slots=True)
class Plan:
    """Everything that happens in one run.

    Attributes:
        people: every person, by arrival.
        taps: entry taps, by time.
        timelines: one true-load timeline per cell.
        truth: the ground truth.
        end_s: when the recording ends (s).
    """

    people: list[Person]
    taps: list[GateTap]
    timelines: list[LoadTimeline]
    truth: Truth
    end_s: float


class _Planner:
    """Builds a :class:`Plan`; one instance per run."""

    def __init__(self, scn: Scenario, layout: Layout, rng: np.random.Generator):
        self.scn, self.lay, self.rng = scn, layout, rng
        self.crowd, self.beh = scn.crowd, scn.behaviour
        n = len(layout.store.cells)
        self.steps: list[list[tuple[float, float, float]]] = [[] for _ in range(n)]
        self.presses: list[list[tuple[float, float, float]]] = [[] for _ in range(n)]
        self.events: list[TruthEvent] = []
        self.standing: list[tuple[float, float, np.ndarray]] = []
        self.people: list[Person] = []
        self.initial = np.zeros(n)
        for f in layout.facings:
            self.initial[f.cells] += sum(f.items_g) * f.split

    def u(self, rng_pair: tuple[float, float]) -> float:
        return float(self.rng.uniform(*rng_pair))

    # ------------------------------------------------------------ physics
    def press(self, cell: int, t0: float, t1: float, force_g: float) -> None:
        """A hand force on ``cell`` plus its crosstalk on the neighbours."""
        if force_g <= 0 or t1 <= t0:
            return
        self.presses[cell].append((t0, t1, force_g))
        for nb in self.lay.neighbours[cell]:
            self.presses[nb].append((t0, t1, force_g * self.lay.crosstalk[cell]))

    def move_item(self, cells: np.ndarray, split: np.ndarray, t0: float, ramp: float,
                  delta_g: float) -> None:
        """Weight ``delta_g`` leaves (< 0) or lands on (> 0) the plates."""
        for c, s in zip(cells, split, strict=True):
            jitter = float(self.rng.uniform(0.0, 0.06)) if len(cells) > 1 else 0.0
            self.steps[int(c)].append((t0 + jitter, ramp, delta_g * float(s)))

    # ------------------------------------------------------------ actions
    def reachable(self, stand: np.ndarray, normal: np.ndarray) -> list[int]:
        """Facings within arm's reach of someone standing at ``stand``."""
        out = []
        for i, f in enumerate(self.lay.facings):
            side = np.dot(self.lay.normal_xy[f.cells[0]], normal) > 0
            if side and abs(f.point[0] - stand[0]) <= self.crowd.arm_reach_m:
                out.append(i)
        return out

    def take(self, p: Person, fi: int, hand: int, t: float, n: int) -> float:
        """Take ``n`` items of facing ``fi`` starting at ``t``; returns when the hand is back."""
        f: Facing = self.lay.facings[fi]
        b = self.beh
        n = min(n, len(f.items_g))
        t_c0 = t + self.u(b.reach_s)
        ramp = self.u(b.ramp_s)
        t_c1 = t_c0 + max(self.u(b.contact_s), ramp + 0.1)
        for c, s in zip(f.cells, f.split, strict=True):
            self.press(int(c), t_c0, t_c1 - 0.5 * ramp, self.u(b.grip_press_g) * float(s))
        weights = [f.items_g.pop() for _ in range(n)]
        self.move_item(f.cells, f.split, t_c1 - ramp, ramp, -sum(weights))
        self.events.append(TruthEvent(round(t_c1, 4), p.account, self.cell_id(f.primary), f.sku, n))
        p.basket.extend((f.sku, w, fi) for w in weights)
        t_back = t_c1 + self.u(b.reach_s)
        p.reaches.append(Reach(hand, t, t_c0, t_c1, t_back, self.hand_target(f.point),
                               carry_after=f.sku))
        return t_back

    def put_back(self, p: Person, item: tuple[str, float, int], hand: int, t: float,
                 cell: int | None) -> float:
        """Put ``item`` down on its own facing (``cell`` None) or on plate ``cell``."""
        sku, w, fi = item
        b = self.beh
        t_c0 = t + self.u(b.reach_s)
        ramp = self.u(b.ramp_s)
        t_placed = t_c0 + 0.1 + ramp
        t_c1 = t_placed + self.u((0.1, 0.5))
        if cell is None:
            f = self.lay.facings[fi]
            cells, split, point, ev_cell = f.cells, f.split, f.point, f.primary
        else:
            cells, split = np.array([cell]), np.ones(1)
            point, ev_cell = self.lay.store.cells[cell].reach_point, cell
        self.move_item(cells, split, t_c0 + 0.1, ramp, w)
        for c, s in zip(cells, split, strict=True):
            self.press(int(c), t_placed, t_c1, self.u(b.grip_press_g) * float(s))
        self.events.append(TruthEvent(round(t_placed, 4), p.account, self.cell_id(ev_cell), sku, -1))
        p.basket.remove(item)
        t_back = t_c1 + self.u(b.reach_s)
        p.reaches.append(Reach(hand, t, t_c0, t_c1, t_back, self.hand_target(point),
                               carry_before=sku))
        return t_back

    def lean(self, p: Person, cell: int, hand: int, t0: float, t1: float) -> None:
        """A hand rests on plate ``cell`` from ``t0`` to ``t1`` without taking."""
        reach = self.u(self.beh.reach_s)
        self.press(cell, t0 + reach, t1, self.u(self.beh.lean_g))
        p.reaches.append(Reach(hand, t0, t0 + reach, t1, t1 + reach,
                               self.hand_target(self.lay.store.cells[cell].reach_point)))

    def hand_target(self, point: np.ndarray) -> np.ndarray:
        """Where the wrist is while touching a plate at ``point`` (m)."""
        return np.asarray(point, float) + self.rng.normal(0.0, 0.02, 3)

    def cell_id(self, i: int) -> str:
        return self.lay.store.cells[int(i)].id

    # ------------------------------------------------------------ one stop
    def action(self, p: Person, reach_fi: list[int], t: float) -> float:
        """Do one randomly chosen action at the current stop; returns its end (s)."""
        b, rng = self.beh, self.rng
        stocked = [i for i in reach_fi if self.lay.facings[i].items_g]
        kinds = ["take", "both", "pick", "return", "lean"]
        w = np.array([b.take_w, b.both_hands_w, b.pick_putback_w, b.return_w, b.lean_w])
        w *= [bool(stocked), len({int(self.lay.facings[i].cells[0]) for i in stocked}) >= 2,
              bool(stocked), bool(p.basket), bool(reach_fi)]
        if w.sum() <= 0:
            return t
        kind = kinds[int(rng.choice(5, p=w / w.sum()))]
        hand = int(rng.integers(2))
        if kind == "take":
            n = 2 if rng.random() < b.double_take_p else 1
            fi = int(rng.choice(stocked))
            t_end = self.take(p, fi, hand, t, n)
            if rng.random() < b.lean_during_take_p:
                nb = self.lay.neighbours[int(self.lay.facings[fi].cells[0])]
                if nb:
                    self.lean(p, int(rng.choice(nb)), 1 - hand, t + 0.2, t_end - 0.3)
            return t_end
        if kind == "both":
            a, c = rng.choice(stocked, 2, replace=False)
            t1 = self.take(p, int(a), 0, t, 1)
            return max(t1, self.take(p, int(c), 1, t + self.u((0.0, 0.5)), 1))
        if kind == "pick":
            t1 = self.take(p, int(rng.choice(stocked)), hand, t, 1)
            item = p.basket[-1]
            return self.put_back(p, item, hand, t1 + self.u(b.hold_s), None)
        if kind == "return":
            return self.return_item(p, reach_fi, hand, t)
        cells = sorted({int(c) for i in reach_fi for c in self.lay.facings[i].cells})
        t_end = t + self.u(b.lean_s)
        self.lean(p, int(rng.choice(cells)), hand, t, t_end)
        return t_end + self.u(b.reach_s)

    def return_item(self, p: Person, reach_fi: list[int], hand: int, t: float) -> float:
        """Put back something from the basket: to its own facing if it is in
        reach (and the shopper gets it right), else onto another plate."""
        item = p.basket[int(self.rng.integers(len(p.basket)))]
        own = item[2] in reach_fi
        if own and self.rng.random() >= self.beh.wrong_plate_p:
            return self.put_back(p, item, hand, t, None)
        if self.rng.random() >= self.beh.wrong_plate_p:
            return t
        own_cells = set(self.lay.facings[item[2]].cells.tolist())
        cells = sorted({int(c) for i in reach_fi for c in self.lay.facings[i].cells} - own_cells)
        if not cells:
            return t
        return self.put_back(p, item, hand, t, int(self.rng.choice(cells)))

    def stand_spot(self, fi: int, t: float) -> np.ndarray:
        """A floor spot in front of facing ``fi``, clear of people standing there at ``t``."""
        f = self.lay.facings[fi]
        normal = self.lay.normal_xy[f.cells[0]]
        base = f.point[:2] + normal * self.u(self.crowd.stand_dist_m)
        along = np.array([normal[1], -normal[0]])
        others = [xy for t0, t1, xy in self.standing if t0 - 2.0 <= t <= t1 + 2.0]
        best, best_d = base, -1.0
        for off in (0.0, 0.3, -0.3, 0.55, -0.55):
            cand = base + along * (off + float(self.rng.normal(0.0, 0.08)))
            d = min((float(np.hypot(*(cand - o))) for o in others), default=9.0)
            if d >= self.crowd.min_gap_m:
                return cand
            if d > best_d:
                best, best_d = cand, d
        return best

    def walk(self, p: Person, path: list[list[float]], to_xy: np.ndarray, speed: float) -> None:
        """Walk from the last path point to ``to_xy`` via a curved detour."""
        t, x, y = path[-1]
        a, b = np.array([x, y]), np.asarray(to_xy, float)
        mid = (a + b) / 2.0
        mid[1] = (mid[1] + self.lay.aisle_y) / 2.0 + float(self.rng.normal(0.0, 0.2))
        for q in (mid, b):
            t += float(np.hypot(*(q - np.array(path[-1][1:])))) / speed
            path.append([t, float(q[0]), float(q[1])])

    def visit(self, account: str, t0: float, t_go: float, start_xy: np.ndarray) -> Person:
        """Plan one person from appearing in the entry zone at ``t0`` (walking
        off at ``t_go``) to leaving through the exit."""
        c, rng = self.crowd, self.rng
        p = Person(account, np.zeros((0, 3)))
        path = [[t0, float(start_xy[0]), float(start_xy[1])]]
        if t_go > t0:
            path.append([t_go, float(start_xy[0]), float(start_xy[1])])
        speed = self.u(c.walk_speed_m_s)
        for _ in range(int(rng.integers(c.stops[0], c.stops[1] + 1))):
            stocked = [i for i, f in enumerate(self.lay.facings) if f.items_g]
            if not stocked:
                break
            fi = int(rng.choice(stocked))
            spot = self.stand_spot(fi, path[-1][0] + 3.0)
            self.walk(p, path, spot, speed)
            t = path[-1][0] + self.u((0.2, 0.8))
            reach_fi = self.reachable(spot, self.lay.normal_xy[self.lay.facings[fi].cells[0]])
            for _ in range(int(rng.integers(c.actions[0], c.actions[1] + 1))):
                t = self.action(p, reach_fi, t) + self.u(c.pause_s)
            self.standing.append((path[-1][0], t, spot))
            path.append([t, float(spot[0]), float(spot[1])])
        exit_xy = self.lay.exit_xy + rng.normal(0.0, 0.15, 2)
        self.walk(p, path, exit_xy, speed)
        path.append([path[-1][0] + self.u((0.3, 0.8)), float(exit_xy[0]), float(exit_xy[1])])
        p.path = np.array(path)
        return p

    # ------------------------------------------------------------ the run
    def wait_for_room(self, t: float, size: int) -> float:
        """Earliest time >= ``t`` at which ``size`` more people fit on the floor."""
        while True:
            # members appear up to 1.4 s before their tap: count anyone still there
            active = [p.t_end for p in self.people if p.t_start <= t < p.t_end + 1.5]
            if len(active) + size <= self.crowd.max_people:
                return t
            t = min(active) + 1.5 + self.u((0.5, 2.0))

    def party(self, account: str, t_tap: float, size: int) -> TruthShopper:
        """Plan a party entering on one tap; returns the account's truth."""
        members = []
        for m in range(size):
            start = self.lay.entry_xy + self.rng.normal(0.0, 0.15, 2)
            t_appear = max(0.0, t_tap - self.u((0.6, 1.4))) + 0.5 * m
            t_go = max(t_appear, t_tap) + self.u((0.1, 0.5)) + 0.3 * m
            members.append(self.visit(account, t_appear, t_go, start))
        self.people.extend(members)
        return TruthShopper(account, round(t_tap, 4), round(max(p.t_end for p in members), 4),
                            frozen_map(None))

    def run(self, duration_s: float) -> Plan:
        """Plan arrivals until ``duration_s - arrival_tail_s``."""
        c, rng = self.crowd, self.rng
        mean_gap_s = 60.0 / c.arrival_per_min
        t = 2.0 + float(rng.exponential(mean_gap_s))
        taps, shoppers = [], {}
        while True:
            size = int(rng.choice(3, p=np.asarray(c.party_p) / sum(c.party_p))) + 1
            size = min(size, c.max_people)
            t = self.wait_for_room(t, size)
            if t >= duration_s - c.arrival_tail_s:
                break
            account = f"A{len(taps) + 1:03d}"
            shoppers[account] = self.party(account, t, size)
            taps.append(GateTap(round(t, 4), self.lay.entry_gate, account, size))
            t += float(rng.exponential(mean_gap_s))
        return self.finish(taps, shoppers, duration_s)

    def finish(self, taps: list[GateTap], shoppers: dict[str, TruthShopper],
               duration_s: float) -> Plan:
        events = sorted(self.events, key=lambda e: (e.t, e.shopper))
        items: dict[str, dict[str, int]] = {a: {} for a in shoppers}
        for e in events:
            items[e.shopper][e.sku] = items[e.shopper].get(e.sku, 0) + e.qty
        truth_shoppers = {
            a: TruthShopper(a, s.enter_t, s.exit_t,
                            frozen_map({k: v for k, v in sorted(items[a].items()) if v > 0}))
            for a, s in shoppers.items()}
        timelines = [LoadTimeline.build(self.initial[i], self.steps[i], self.presses[i])
                     for i in range(len(self.steps))]
        end_s = max([duration_s] + [p.t_end + 2.0 for p in self.people])
        taps.sort(key=lambda g: g.t)
        return Plan(self.people, taps, timelines, Truth(truth_shoppers, tuple(events)), end_s)


def plan_run(scn: Scenario, layout: Layout, rng: np.random.Generator,
             duration_s: float) -> Plan:
    """Plan every shopper of one run (mutates the layout's stock)."""
    return _Planner(scn, layout, rng).run(duration_s)

"""Plan what every shopper does: arrivals, taps, walks, reaches, takes,
put-backs, leans; and the resulting true load on every plate.

The plan is small (a few records per action) and is made once per run; the
dense signals (weights, vision) are generated from it block by block.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from fusion.sim.crowd import Occupancy, approach
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
        gate_t: when they passed the entry gate point (s); the path starts
            earlier, outside the store, walking up to the gate.
    """

    account: str
    path: np.ndarray
    reaches: list[Reach] = field(default_factory=list)
    basket: list[tuple[str, float, int]] = field(default_factory=list)
    gate_t: float = 0.0

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


_WAITS_S = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 11.0, 15.0, 20.0, 30.0)  #: waits tried before a walk (s)
_SWERVES_M = (0.0, 0.5, -0.5, 1.0, -1.0)  #: sideways detours tried (m)
_SLOWER = (1.0, 0.75, 0.55)  #: walking speed factors tried (falling in behind someone)
#: (wait s, speed factor, detour m) in the order tried: the least change first
_WALK_OPTIONS = tuple((w, f, d) for w in _WAITS_S for f in _SLOWER for d in _SWERVES_M)
_STOP_TRIES = 6  #: stops (spot, walk, actions) tried before giving the stop a miss
_SPOT_TRIES = 5  #: targets tried per walk to a stop, the exit or inside the gate
_SETTLE_S = 1.5  #: a walk is also checked for this long standing at its end (s)


def _entry_direction(scn: Scenario, layout: Layout) -> tuple[np.ndarray, float]:
    """Unit direction (2,) into the store through the entry gate, and how far
    before the gate point (m) a walk-up starts: 0.5 m beyond what any camera sees."""
    axis = 1 if scn.layout.kind == "wall" else 0
    into = np.eye(2)[axis]
    edge = float(layout.camera_rects[:, axis].min())
    return into, float(layout.entry_xy[axis] - edge + 0.5)


class _Planner:
    """Builds a :class:`Plan`; one instance per run."""

    def __init__(self, scn: Scenario, layout: Layout, rng: np.random.Generator):
        self.scn, self.lay, self.rng = scn, layout, rng
        self.crowd, self.beh = scn.crowd, scn.behaviour
        n = len(layout.store.cells)
        self.steps: list[list[tuple[float, float, float]]] = [[] for _ in range(n)]
        self.presses: list[list[tuple[float, float, float]]] = [[] for _ in range(n)]
        self.events: list[TruthEvent] = []
        self.occ = Occupancy()
        self.gate_t = -np.inf  # last time anybody passed the entry gate (s)
        self.into, self.start_m = _entry_direction(scn, layout)
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

    def stand_spot(self, fi: int, t: float, check_s: float) -> np.ndarray:
        """A floor spot in front of facing ``fi`` that nobody planned so far
        comes within ``min_gap_m`` of from ``t`` - 1 s to ``t + check_s``."""
        c = self.crowd
        f = self.lay.facings[fi]
        normal = self.lay.normal_xy[f.cells[0]]
        along = np.array([normal[1], -normal[0]])
        best, best_d = None, -1.0
        for off in (0.0, 0.3, -0.3, 0.55, -0.55, 0.8, -0.8):
            depth = self.u(c.stand_dist_m)
            cand = f.point[:2] + normal * depth + along * (off + float(self.rng.normal(0.0, 0.08)))
            d = self.occ.clearance_at(cand, t - 1.0, t + check_s)
            if d >= c.min_gap_m:
                return cand
            if d > best_d:
                best, best_d = cand, d
        return best

    def walk(self, path: list[list[float]], to_xy: np.ndarray, speed: float,
             hold_s: float = 0.0) -> bool:
        """Walk from the last path point to ``to_xy`` via a curved detour and
        stand there ``hold_s``; wait first and/or swerve so as to keep
        ``min_gap_m`` from everybody planned before. Returns whether it could."""
        t, x, y = path[-1]
        a, b = np.array([x, y]), np.asarray(to_xy, float)
        mid = (a + b) / 2.0
        mid[1] = (mid[1] + self.lay.aisle_y) / 2.0 + float(self.rng.normal(0.0, 0.2))
        ab = b - a
        perp = np.array([-ab[1], ab[0]]) / max(float(np.hypot(*ab)), 1e-9)
        best, best_c = [], -1.0
        for wait, slow, side in _WALK_OPTIONS:
            rows, tq, prev = [[t, x, y]], t + wait, a
            if wait:
                rows.append([tq, x, y])
            for q in (mid + perp * side, b):
                tq += float(np.hypot(*(q - prev))) / (speed * slow)
                rows.append([tq, float(q[0]), float(q[1])])
                prev = q
            if hold_s > 0:
                rows.append([tq + hold_s, float(b[0]), float(b[1])])
            # whoever arrives somewhere stays a moment: check that too
            check = np.array(rows + [[rows[-1][0] + _SETTLE_S, float(b[0]), float(b[1])]])
            c = self.occ.clearance(check, t, check[-1, 0])
            if c >= self.crowd.min_gap_m:
                path.extend(rows[1:])
                return True
            if c > best_c:
                best, best_c = rows, c
        path.extend(best[1:])
        return False

    def go_to_stop(self, path: list[list[float]], fi: int, speed: float,
                   later_s: float, check_s: float) -> np.ndarray | None:
        """Choose a stand spot at facing ``fi`` free for ``check_s`` after
        arriving (looking ``later_s`` further ahead) and walk there; returns the
        spot, or None (path unchanged) when no free spot could be reached."""
        for attempt in range(_SPOT_TRIES):
            t_est = path[-1][0] + later_s + 3.0 + 1.5 * attempt
            spot = self.stand_spot(fi, t_est, check_s)
            n = len(path)
            ok = self.walk(path, spot, speed)
            t_arr = path[-1][0]
            if ok and self.occ.clearance_at(spot, t_arr, t_arr + check_s) >= self.crowd.min_gap_m:
                return spot
            del path[n:]
        return None

    def walk_to_one(self, path: list[list[float]], target, speed: float,
                    hold_s: float = 0.0) -> None:
        """Walk to the first of a few drawn targets (``target()`` draws one)
        that can be reached keeping the gap (the last one regardless)."""
        for k in range(_SPOT_TRIES):
            n = len(path)
            if self.walk(path, target(), speed, hold_s) or k == _SPOT_TRIES - 1:
                return
            del path[n:]

    def stop(self, p: Person, spot: np.ndarray, fi: int, t_arrive: float, n_actions: int) -> float:
        """The actions at one stop (arrived at ``t_arrive``); returns when they end (s)."""
        t = t_arrive + self.u((0.2, 0.8))
        reach_fi = self.reachable(spot, self.lay.normal_xy[self.lay.facings[fi].cells[0]])
        n_events = len(self.events)
        for _ in range(n_actions):
            t = self.action(p, reach_fi, t) + self.u(self.crowd.pause_s)
        # the shopper stands at the spot for the whole stop: that is where they were
        xy = (round(float(spot[0]), 3), round(float(spot[1]), 3))
        self.events[n_events:] = [replace(e, xy=xy) for e in self.events[n_events:]]
        return t

    def save(self, p: Person) -> tuple:
        """What a stop changes, to undo it with :meth:`restore`."""
        return (len(self.events), [len(x) for x in self.steps], [len(x) for x in self.presses],
                len(p.reaches), list(p.basket), [list(f.items_g) for f in self.lay.facings])

    def restore(self, p: Person, saved: tuple) -> None:
        n_ev, n_steps, n_presses, n_reach, basket, items = saved
        del self.events[n_ev:]
        for lst, k in zip(self.steps, n_steps, strict=True):
            del lst[k:]
        for lst, k in zip(self.presses, n_presses, strict=True):
            del lst[k:]
        del p.reaches[n_reach:]
        p.basket[:] = basket
        for f, it in zip(self.lay.facings, items, strict=True):
            f.items_g[:] = it

    def visit(self, p: Person, path: list[list[float]], speed: float) -> Person:
        """Plan one person from the gate (``path`` ends there) to leaving through the exit."""
        c, rng = self.crowd, self.rng
        # clear the gate first: anyone who has to wait does so inside, not in the lane
        side = np.array([self.into[1], -self.into[0]])
        self.walk_to_one(path, lambda: self.lay.entry_xy + self.into * self.u((0.8, 1.8))
                         + side * float(rng.normal(0.0, 0.5)), speed)
        for _ in range(int(rng.integers(c.stops[0], c.stops[1] + 1))):
            stocked = [i for i, f in enumerate(self.lay.facings) if f.items_g]
            if not stocked:
                break
            fi = int(rng.choice(stocked))
            n_actions = int(rng.integers(c.actions[0], c.actions[1] + 1))
            stay_s = c.stand_check_s
            for attempt in range(_STOP_TRIES):
                saved, n = self.save(p), len(path)
                spot = self.go_to_stop(path, fi, speed, 3.0 * attempt, stay_s)
                if spot is None:
                    continue
                t = self.stop(p, spot, fi, path[-1][0], n_actions)
                # the stay is known only now: someone planned earlier may pass the spot
                if self.occ.clearance_at(spot, path[-1][0], t) >= c.min_gap_m:
                    path.append([t, float(spot[0]), float(spot[1])])
                    break
                stay_s = max(stay_s, t - path[-1][0] + 1.0)
                self.restore(p, saved)
                del path[n:]
            # no free spot found: the shopper gives this stop a miss
        self.walk_to_one(path, lambda: self.lay.exit_xy + rng.normal(0.0, 0.15, 2), speed,
                         hold_s=self.u((0.3, 0.8)))
        p.path = np.array(path)
        self.occ.add(p.path)
        return p

    # ------------------------------------------------------------ the run
    def wait_for_room(self, t: float, size: int) -> float:
        """Earliest time >= ``t`` at which ``size`` more people fit on the floor."""
        while True:
            active = [p.t_end for p in self.people if p.gate_t <= t < p.t_end + 1.5]
            if len(active) + size <= self.crowd.max_people:
                return t
            t = min(active) + 1.5 + self.u((0.5, 2.0))

    def party(self, account: str, t_arrive: float, size: int) -> TruthShopper:
        """Plan a party that reaches the entry gate at ``t_arrive`` (free
        walking): they queue in file behind whoever is ahead, the first taps
        at the gate and the others follow through one at a time."""
        c = self.crowd
        speeds = [self.u(c.walk_speed_m_s) for _ in range(size)]
        v_in = min(speeds)  # a party walks up together
        members: list[Person] = []
        t_ready = t_arrive
        for m in range(size):
            gap = self.u(c.file_gap_m)
            ahead = self.people[-1].path if self.people else None
            headway = self.u(c.gate_headway_s if m == 0 else c.member_headway_s)
            t_allowed = self.gate_t + headway
            if m == 0:  # the gate opens only when the whole party fits on the floor
                t_allowed = self.wait_for_room(max(t_allowed, t_arrive), size)
            rows, t_gate = approach(
                self.lay.entry_xy, self.into, start_m=self.start_m, t_ready=t_ready, speed=v_in,
                t_allowed=t_allowed, ahead=ahead, gap_m=gap,
                lateral_m=float(self.rng.normal(0.0, 0.05)))
            self.gate_t = t_gate
            if m == 0:
                rows.append([t_gate + self.u(c.tap_dwell_s), *rows[-1][1:]])
            p = Person(account, np.zeros((0, 3)), gate_t=t_gate)
            members.append(self.visit(p, rows, speeds[m]))
            self.people.append(p)
            t_ready += gap / v_in
        t_tap = members[0].gate_t
        return TruthShopper(account, round(t_tap, 4), round(max(p.t_end for p in members), 4),
                            frozen_map(None))

    def run(self, duration_s: float) -> Plan:
        """Plan arrivals until ``duration_s - arrival_tail_s``."""
        c, rng = self.crowd, self.rng
        mean_gap_s = 60.0 / c.arrival_per_min
        t = 5.0 + float(rng.exponential(mean_gap_s))
        taps, shoppers = [], {}
        while True:
            size = int(rng.choice(3, p=np.asarray(c.party_p) / sum(c.party_p))) + 1
            size = min(size, c.max_people)
            t = self.wait_for_room(t, size)
            if t >= duration_s - c.arrival_tail_s:
                break
            account = f"A{len(taps) + 1:03d}"
            shoppers[account] = self.party(account, t, size)
            t_tap = shoppers[account].enter_t
            taps.append(GateTap(t_tap, self.lay.entry_gate, account, size))
            t += float(rng.exponential(mean_gap_s))  # arrivals do not wait for the gate
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

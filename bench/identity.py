"""Where receipts go wrong: tracker identity vs. an oracle that knows who is who.

The simulator can tag every person detection with a per-camera ``track``
hint that never breaks or swaps (``VisionSpec.track_hints``); the hints name
the true person, so an *oracle tracker* built on them has perfect identity.
Replaying the same recording with the oracle and with our tracker separates
losses of identity (tracking, tap binding) from losses of weights and
attribution. The identity check samples every second: for each true person,
is the nearest track (within 0.4 m) bound to the right account?

    python -m bench.identity [--scenario concession] [--seeds 0-1] [--identity-only]
                             [--cache DIR] [--hz FPS]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from fusion.engine import Engine
from fusion.recording import Recording
from fusion.scoring import score
from fusion.sim import SCENARIOS, simulate
from fusion.sim.simulate import prepare
from fusion.tracking import ExitEvent, ShopperTracker, TrackerConfig, TrackWindow
from fusion.tracking.cameras import FrameCadence
from fusion.tracking.geometry import distance_to_polygon
from fusion.types import VisionFrame


class OracleTracker:
    """Tracker stand-in with true identities from the simulator's track hints.

    Args:
        accounts: account of each person, in order of the person's start time
            (the hint number ``n`` in ``"C1-n"`` is that order, 1-based).
        truth: the recording's truth (exit times).
    """

    def __init__(self, accounts: list[str], truth):
        self.accounts_of = accounts
        self.truth = truth
        self.obs: dict[int, tuple[list, list, list, list, list]] = defaultdict(lambda: ([], [], [], [], []))
        self.exited: set[str] = set()
        self._cadence = FrameCadence()
        self.frame_scale = 1.0  # as ShopperTracker's: the engine's hand-point rule reads it

    def tap(self, tap) -> None:
        pass

    def update(self, frame) -> None:
        if self._cadence.observe(frame.camera, frame.t):
            self.frame_scale = TrackerConfig().frame_scale_for(self._cadence.interval_s())
        for p in frame.people:
            if p.track is None:
                continue
            t, xy, ht, hp, hh = self.obs[int(p.track.rsplit("-", 1)[1]) - 1]
            t.append(frame.t)
            xy.append(p.xy)
            for h in p.hands:
                ht.append(frame.t)
                hp.append(h.p)
                hh.append(h.holding)

    def window(self, t0: float, t1: float) -> list[TrackWindow]:
        out = []
        for n, (t, xy, ht, hp, hh) in self.obs.items():
            t_arr, ht_arr = np.asarray(t), np.asarray(ht)
            m = (t_arr >= t0) & (t_arr <= t1)
            if not m.any():
                continue
            hm = (ht_arr >= t0) & (ht_arr <= t1) if len(ht_arr) else np.zeros(0, bool)
            out.append(TrackWindow(
                n, self.accounts_of[n], 1.0, t_arr[m], np.asarray(xy)[m],
                ht_arr[hm] if len(ht_arr) else np.zeros(0),
                np.asarray(hp)[hm] if len(hp) else np.zeros((0, 3)),
                tuple(h for h, k in zip(hh, hm, strict=True) if k)))
        return out

    def people_at(self, t: float, lost_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Last position (m) of each person seen within ``lost_s`` of ``t`` (s),
        sd 2 m/s times the time since (see ShopperTracker.people_at)."""
        last = [(obs[0][-1], obs[1][-1]) for obs in self.obs.values() if obs[0] and t - obs[0][-1] <= lost_s]
        if not last:
            return np.zeros((0, 2)), np.zeros(0)
        return (np.array([xy for _, xy in last], float).reshape(-1, 2),
                np.array([2.0 * max(t - tl, 0.0) for tl, _ in last]))

    def pop_exits(self, t: float) -> list[ExitEvent]:
        out = []
        for a, s in self.truth.shoppers.items():
            if a not in self.exited and s.exit_t is not None and t >= s.exit_t + 1.0:
                self.exited.add(a)
                out.append(ExitEvent(a, s.exit_t, s.exit_t + 1.0))
        return out

    def accounts(self) -> dict[str, str]:
        return {a: "exited" if a in self.exited else "inside" for a in self.truth.shoppers}

    def last_seen(self, account: str) -> float | None:
        seen = [obs[0][-1] for n, obs in self.obs.items() if self.accounts_of[n] == account and obs[0]]
        return max(seen) if seen else None

    def partners(self, account: str, min_p: float) -> dict[str, float]:
        return {}  # true identities: nobody can have been swapped


def hinted_recording(scenario: str, seed: int, out: Path, hz: float | None = None) -> list[str]:
    """Simulate with unbroken track hints (cameras at ``hz`` frames/s, or the
    preset's); returns the account of each hint number."""
    scn = SCENARIOS[scenario]
    scn = dataclasses.replace(scn, vision=dataclasses.replace(
        scn.vision, track_hints=True, track_break_per_s=0.0,
        hz=scn.vision.hz if hz is None else (hz, hz)))
    simulate(scn, seed, out)
    _, _, plan = prepare(scn, seed)
    return [p.account for p in sorted(plan.people, key=lambda p: p.t_start)]


def replay(folder: Path, tracker=None) -> Engine:
    rec = Recording(folder)
    eng = Engine(rec.store)
    if tracker is not None:
        eng.tracker = tracker
    for item in rec.stream():
        eng.feed(item)
    eng.finish()
    return eng


CONF_BINS = (0.0, 0.5, 0.7, 0.85, 0.95, 0.99, 1.01)
#: a person is sampled from this long after their account's tap (s): before
#: the tap there is no account to carry, and binding takes a moment
SETTLE_S = 2.0
#: ... and only once this far from every entry zone (m): identity matters
#: from when they are inside, not while they queue at the gate
GATE_CLEAR_M = 1.0


def _strip_hints(frame: VisionFrame) -> VisionFrame:
    """The frame without ``track`` hints: the scorecard's recordings have none,
    so the tracker under test must not get the oracle's perfect ones."""
    return dataclasses.replace(frame, people=tuple(dataclasses.replace(p, track=None)
                                                   for p in frame.people))


def _cause(st, follow: dict, acct_of: list[str], t: float) -> str:
    """Why a sampled track carries a wrong account or none (see :func:`identity_check`).

    ``follow`` maps sample time -> index of the true person the track was
    nearest to then; ``st`` is the track's identity state."""
    if st is None or st.account is None:
        if st is not None and st.entry_gate is not None and not st.bind_done:
            return "unbound: entrant waiting for a tap"
        if st is not None and st.entry_gate is not None:
            return "unbound: entrant no tap claimed"
        return "unbound: new track not re-linked"
    after = [k for k in follow if k >= st.t_how - 0.5]
    first = follow[min(after)] if after else None
    if first is not None and acct_of[first] != st.account:
        return f"wrong: {st.how} chose wrong person"
    return f"wrong: swap after {st.how}"


def _hint_person(p) -> int | None:
    return None if p.track is None else int(p.track.rsplit("-", 1)[1]) - 1


def swap_events(folder: Path, accounts: list[str], run: int = 4) -> list[tuple]:
    """When do bound tracks start following another account's person?

    Replays the tracker frame by frame; a bound track updated in a frame
    follows the true person of the nearest detection (<= 0.5 m). Its label is
    set after 3 agreeing frames and changes after ``run`` agreeing frames of
    another person; a change to a person of another account is a swap.

    Returns:
        One row per swap: (t s, s since the track got its account, x m, y m,
        account, how, nearest other confirmed track m, the person it left was
        detected in that frame, the track that followed the new person swapped
        too (mutual)).
    """
    rec = Recording(folder)
    trk = ShopperTracker(rec.store)
    taps = rec.read_taps()
    label: dict[int, int] = {}
    recent: dict[int, list] = defaultdict(list)
    out = []
    next_tap = 0
    for fr in rec.iter_vision():
        while next_tap < len(taps) and taps[next_tap].t <= fr.t:
            trk.tap(taps[next_tap])
            next_tap += 1
        trk.update(_strip_hints(fr))
        if not fr.people:
            continue
        who = [_hint_person(p) for p in fr.people]
        zxy = np.array([p.xy for p in fr.people], float).reshape(-1, 2)
        live = [tr for tr in trk._core.active if tr.confirmed]  # diagnostics only
        changed = {}
        for tr in live:
            st = tr.data
            if tr.t_last != fr.t or st.account is None:
                continue
            d = np.hypot(*(zxy - tr.kf.x[:2]).T)
            if d.min() > 0.5:
                continue
            h = who[int(d.argmin())]
            r = recent[tr.id]
            r.append(h)
            del r[:-run]
            if tr.id not in label:
                if len(r) >= 3 and len(set(r[-3:])) == 1:
                    label[tr.id] = h
            elif h is not None and h != label[tr.id] and len(r) == run and len(set(r)) == 1:
                changed[tr.id] = (tr, label[tr.id], h)
        for tr, old, new in changed.values():
            label[tr.id] = new
            st = tr.data
            if old is None or accounts[new] == accounts[old]:
                continue
            dmin = min((float(np.hypot(*(o.kf.x[:2] - tr.kf.x[:2]))) for o in live if o is not tr),
                       default=np.inf)
            mutual = any(o.id != tr.id and label.get(o.id) == old for o in live)
            out.append((fr.t, fr.t - st.t_how, float(tr.kf.x[0]), float(tr.kf.x[1]), st.account,
                        st.how, dmin, old in who, mutual))
    return out


def swaps_table(rows: list[tuple]) -> str:
    """Markdown table of :func:`swap_events` rows."""
    lines = ["| t s | since bound s | x m | y m | account | how | nearest m | left one seen | mutual |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r[0]:.1f} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.1f} | {r[4]} | {r[5]} | {r[6]:.2f} | "
              f"{'yes' if r[7] else 'no'} | {'yes' if r[8] else 'no'} |" for r in rows]
    return "\n".join(lines)


def identity_check(folder: Path, accounts: list[str], details: Counter | None = None,
                   calib: dict | None = None, by_how: dict | None = None) -> Counter:
    """Sample once a second: is each true person's nearest track bound to their account?

    A person is sampled from ``SETTLE_S`` after their account's tap (truth
    ``enter_t``) on, when at least ``GATE_CLEAR_M`` from every entry zone.

    Args:
        folder: the recording (with the oracle's track hints; the tracker gets
            the frames without them).
        accounts: account of each true person (hint number order).
        details: if given, counts of failure causes are added to it: for a
            wrong account, whether the track already followed a person of
            another account right after it got the account (the binding,
            re-link or adoption chose the wrong person) or later (a swap);
            for an unbound track, whether it is an entrant or a new track away
            from the gates that re-link did not attach.
        calib: if given, ``calib[bin] = [right, wrong]`` counts of bound
            samples by ``identity_conf`` bin (:data:`CONF_BINS`).
        by_how: if given, ``by_how[how] = [right, wrong, sum of identity_conf]``
            over bound samples by how the track got its account (``ShopperState.how``).
    """
    rec = Recording(folder)
    truth = rec.read_truth()
    trk, orc = ShopperTracker(rec.store), OracleTracker(accounts, truth)
    enter_t = {a: s.enter_t for a, s in truth.shoppers.items()}
    entries = [np.asarray(g.zone, float) for g in rec.store.gates if g.is_entry]
    taps = rec.read_taps()
    out: Counter = Counter()
    follows: dict[int, dict[float, int]] = defaultdict(dict)
    next_tap, next_check = 0, 1.0
    for fr in rec.iter_vision():
        while next_tap < len(taps) and taps[next_tap].t <= fr.t:
            trk.tap(taps[next_tap])
            next_tap += 1
        trk.update(_strip_hints(fr))
        orc.update(fr)
        if fr.t - 0.5 < next_check:
            continue
        t, next_check = next_check, next_check + 1.0
        tracks = trk.window(t - 0.3, t + 0.3)
        people = orc.window(t - 0.3, t + 0.3)
        pxy = np.array([p.xy[np.argmin(np.abs(p.t - t))] for p in people]).reshape(-1, 2)
        states = trk.states() if details is not None or by_how is not None else {}
        for w in tracks:
            if len(pxy):
                dd = np.linalg.norm(pxy - w.xy[np.argmin(np.abs(w.t - t))], axis=1)
                if dd.min() <= 0.4:
                    follows[w.track_id][t] = people[int(np.argmin(dd))].track_id
        for person in people:
            xy = person.xy[np.argmin(np.abs(person.t - t))]
            if t < enter_t.get(person.account, 0.0) + SETTLE_S or min(
                    (distance_to_polygon(z, xy) for z in entries), default=np.inf) < GATE_CLEAR_M:
                continue  # not in yet: queueing, waiting at a full store's gate, just tapped
            near = [(np.linalg.norm(w.xy[np.argmin(np.abs(w.t - t))] - xy), w) for w in tracks]
            d, w = min(near, key=lambda x: x[0], default=(np.inf, None))
            key = ("no track" if d > 0.4 else "right account" if w.account == person.account
                   else "unbound" if w.account is None else "wrong account")
            out[key] += 1
            if key in ("right account", "wrong account") and calib is not None:
                b = int(np.searchsorted(CONF_BINS, w.identity_conf, side="right")) - 1
                calib.setdefault(b, [0, 0])[key == "wrong account"] += 1
            if key in ("right account", "wrong account") and by_how is not None:
                st = states.get(w.track_id) if states else trk.states().get(w.track_id)
                row = by_how.setdefault(st.how if st is not None else "?", [0, 0, 0.0])
                row[key == "wrong account"] += 1
                row[2] += w.identity_conf
            if key in ("unbound", "wrong account") and details is not None:
                details[_cause(states.get(w.track_id), follows[w.track_id], accounts, t)] += 1
    return out


def calibration_table(calib: dict) -> str:
    """Markdown table: identity_conf bin, bound samples, share right."""
    rows = ["| identity_conf | samples | share right |", "|---|---|---|"]
    for b in sorted(calib):
        r, w = calib[b]
        rows.append(f"| {CONF_BINS[b]:.2f}-{min(CONF_BINS[b + 1], 1.0):.2f} | {r + w} | "
                    f"{r / max(r + w, 1):.3f} |")
    return "\n".join(rows)


def how_table(by_how: dict) -> str:
    """Markdown table: how the account was got, bound samples, mean
    identity_conf, share right."""
    rows = ["| how | samples | mean identity_conf | share right |", "|---|---|---|---|"]
    for how, (r, w, c) in sorted(by_how.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
        n = max(r + w, 1)
        rows.append(f"| {how} | {r + w} | {c / n:.3f} | {r / n:.3f} |")
    return "\n".join(rows)


def _recording(scenario: str, seed: int, tmp: Path, cache: Path | None,
               hz: float | None = None) -> tuple[Path, list[str]]:
    """The hinted recording of (scenario, seed), from ``cache`` when there."""
    folder = (cache or tmp) / (f"{scenario}-{seed}" if hz is None else f"{scenario}-{hz:g}fps-{seed}")
    marker = folder / "accounts.txt"
    if cache is not None and marker.exists():
        return folder, marker.read_text().split()
    accounts = hinted_recording(scenario, seed, folder, hz)
    marker.write_text("\n".join(accounts))
    return folder, accounts


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="concession")
    ap.add_argument("--seeds", default="0-1")
    ap.add_argument("--identity-only", action="store_true",
                    help="skip the engine replays (identity samples, causes, calibration)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep/reuse the simulated recordings in this folder")
    ap.add_argument("--hz", type=float, default=None,
                    help="every camera at this frame rate (frames/s) instead of the preset's")
    ap.add_argument("--swaps", action="store_true",
                    help="list each swap of a bound track (time, place, distances) per seed")
    args = ap.parse_args(argv)
    a, b = (args.seeds.split("-") + [args.seeds])[:2]
    rows = ["| seed | engine | sales | reviews /1000 | wrong /1000 | unit recall | attribution | "
            "identity samples right / wrong / unbound / no track |", "|---|---|---|---|---|---|---|---|"]
    details: Counter = Counter()
    calib: dict = {}
    by_how: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(int(a), int(b) + 1):
            if args.cache is not None:
                args.cache.mkdir(parents=True, exist_ok=True)
            folder, accounts = _recording(args.scenario, seed, Path(tmp), args.cache, args.hz)
            if args.swaps:
                rows += [f"Swaps, seed {seed}:", "", swaps_table(swap_events(folder, accounts)), ""]
                continue
            ids = identity_check(folder, accounts, details, calib, by_how)
            n = max(sum(ids.values()), 1)
            id_text = " / ".join(f"{ids[k] / n:.2f}" for k in ("right account", "wrong account", "unbound",
                                                                 "no track"))
            if args.identity_only:
                rows.append(f"| {seed} | tracker | | | | | | {id_text} |")
                print(rows[-1], flush=True)
                continue
            truth = Recording(folder).read_truth()
            for name, tracker in (("tracker", None), ("oracle identity", OracleTracker(accounts, truth))):
                card = score(replay(folder, tracker).receipts(), truth)
                rows.append(f"| {seed} | {name} | {card.sales} | {card.reviews_per_1000:.0f} | "
                            f"{card.wrong_per_1000:.0f} | {card.unit_recall:.3f} | "
                            f"{card.attribution_accuracy:.3f} | {id_text if tracker is None else ''} |")
            print(rows[-2] + "\n" + rows[-1], flush=True)
    rows += ["", "Failure causes (samples, all seeds):", "", "| cause | samples |", "|---|---|"]
    rows += [f"| {k} | {v} |" for k, v in details.most_common()]
    rows += ["", "Calibration (bound samples, all seeds):", "", calibration_table(calib),
             "", "By how the account was got (bound samples, all seeds):", "", how_table(by_how)]
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())

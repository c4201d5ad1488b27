"""Where receipts go wrong: tracker identity vs. an oracle that knows who is who.

The simulator can tag every person detection with a per-camera ``track``
hint that never breaks or swaps (``VisionSpec.track_hints``); the hints name
the true person, so an *oracle tracker* built on them has perfect identity.
Replaying the same recording with the oracle and with our tracker separates
losses of identity (tracking, tap binding) from losses of weights and
attribution. The identity check samples every second: for each true person,
is the nearest track (within 0.4 m) bound to the right account?

    python -m bench.identity [--scenario concession] [--seeds 0-1]
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
from fusion.tracking import ExitEvent, ShopperTracker, TrackWindow


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

    def tap(self, tap) -> None:
        pass

    def update(self, frame) -> None:
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

    def pop_exits(self, t: float) -> list[ExitEvent]:
        out = []
        for a, s in self.truth.shoppers.items():
            if a not in self.exited and s.exit_t is not None and t >= s.exit_t + 1.0:
                self.exited.add(a)
                out.append(ExitEvent(a, s.exit_t, s.exit_t + 1.0))
        return out

    def accounts(self) -> dict[str, str]:
        return {a: "exited" if a in self.exited else "inside" for a in self.truth.shoppers}


def hinted_recording(scenario: str, seed: int, out: Path) -> list[str]:
    """Simulate with unbroken track hints; returns the account of each hint number."""
    scn = SCENARIOS[scenario]
    scn = dataclasses.replace(scn, vision=dataclasses.replace(scn.vision, track_hints=True,
                                                              track_break_per_s=0.0))
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


def identity_check(folder: Path, accounts: list[str]) -> Counter:
    """Sample once a second: is each true person's nearest track bound to their account?"""
    rec = Recording(folder)
    trk, orc = ShopperTracker(rec.store), OracleTracker(accounts, rec.read_truth())
    taps = rec.read_taps()
    out: Counter = Counter()
    next_tap, next_check = 0, 1.0
    for fr in rec.iter_vision():
        while next_tap < len(taps) and taps[next_tap].t <= fr.t:
            trk.tap(taps[next_tap])
            next_tap += 1
        trk.update(fr)
        orc.update(fr)
        if fr.t - 0.5 < next_check:
            continue
        t, next_check = next_check, next_check + 1.0
        tracks = trk.window(t - 0.3, t + 0.3)
        for person in orc.window(t - 0.3, t + 0.3):
            xy = person.xy[np.argmin(np.abs(person.t - t))]
            near = [(np.linalg.norm(w.xy[np.argmin(np.abs(w.t - t))] - xy), w) for w in tracks]
            d, w = min(near, key=lambda x: x[0], default=(np.inf, None))
            key = ("no track" if d > 0.4 else "right account" if w.account == person.account
                   else "unbound" if w.account is None else "wrong account")
            out[key] += 1
    return out


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="concession")
    ap.add_argument("--seeds", default="0-1")
    args = ap.parse_args(argv)
    a, b = (args.seeds.split("-") + [args.seeds])[:2]
    rows = ["| seed | engine | sales | reviews /1000 | wrong /1000 | unit recall | attribution | "
            "identity samples right / wrong / unbound / no track |", "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(int(a), int(b) + 1):
            folder = Path(tmp) / f"{args.scenario}-{seed}"
            accounts = hinted_recording(args.scenario, seed, folder)
            truth = Recording(folder).read_truth()
            ids = identity_check(folder, accounts)
            n = max(sum(ids.values()), 1)
            id_text = " / ".join(f"{ids[k] / n:.2f}" for k in ("right account", "wrong account", "unbound",
                                                                 "no track"))
            for name, tracker in (("tracker", None), ("oracle identity", OracleTracker(accounts, truth))):
                card = score(replay(folder, tracker).receipts(), truth)
                rows.append(f"| {seed} | {name} | {card.sales} | {card.reviews_per_1000:.0f} | "
                            f"{card.wrong_per_1000:.0f} | {card.unit_recall:.3f} | "
                            f"{card.attribution_accuracy:.3f} | {id_text if tracker is None else ''} |")
            print(rows[-2] + "\n" + rows[-1], flush=True)
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())

"""A possible identity swap doubts both receipts: the partner's lacks what the track did."""

import dataclasses

from fusion.attribution import UNKNOWN, Candidate
from fusion.engine import Engine, EngineConfig
from fusion.store import parse_store
from fusion.tracking import ShopperTracker
from fusion.types import GateTap, ShelfEvent
from tests.fusion.test_tracking import enter
from tests.fusion.test_tracking_scenes import Scene, run

STORE = parse_store({
    "sku": [{"id": "cola", "weight_g": 352.0, "weight_sd_g": 2.0}],
    "cell": [{"id": "K1", "front": [[4.6, 3.6, 1.2], [5.0, 3.6, 1.2]], "skus": ["cola"]}],
    "gate": [{"id": "IN", "zone": [[0, 0], [1, 0], [1, 0.8], [0, 0.8]], "kind": "entry"},
             {"id": "OUT", "zone": [[5, 0], [6, 0], [6, 0.8], [5, 0.8]], "kind": "exit"}]})
TAKE = ShelfEvent(t_start=12.5, t_end=13.0, t_final=13.4, cells=(0,), delta_g=(-352.0,), sd_g=(1.0,))
TAPS = [GateTap(2.0, "IN", "A"), GateTap(3.5, "IN", "B")]


def crossing(gap_m: float) -> Scene:
    """a and b cross at t = 9 s with their paths ``gap_m`` apart, then a walks to K1."""
    h = gap_m / 2
    a = enter("a", 2.0, (4.0, 1.0, 3.0), (9.0, 3.0, 3.0 + h), (12.5, 4.8, 3.3))
    b = enter("b", 3.5, (7.0, 5.0, 3.0), (9.0, 3.0, 3.0 - h), (12.5, 1.0, 2.8))
    return Scene([a, b], taps=TAPS, seed=2)


def decide_take_by_a(scene: Scene, event: ShelfEvent = TAKE) -> tuple:
    eng = Engine(STORE)
    run(eng.tracker, scene)
    for acc in ("A", "B"):
        eng.book.open(acc, 2.0)
    w = next(w for w in eng.tracker.window(12.0, 12.5) if w.account == "A")
    eng._decide_event(event, [Candidate("A", 0.999, w.identity_conf, 0.01, {}, (w.track_id,), 1.0, 0.01),
                             Candidate(UNKNOWN, 0.001, 0.0, float("inf"), {}, ())])
    return eng.book.finalise("A", 20.0, 21.0), eng.book.finalise("B", 20.0, 21.0)


def test_encounter_records_the_partner_account_on_both_tracks():
    trk = ShopperTracker(STORE)
    run(trk, crossing(0.1))
    states = {st.account: st for st in trk.states().values() if st.account}
    assert set(states) == {"A", "B"}
    assert states["A"].swap_partners.keys() == {"B"} and states["B"].swap_partners.keys() == {"A"}
    for acc, other in (("A", "B"), ("B", "A")):
        p, t_met = states[acc].swap_partners[other]
        assert 0.2 < p < 1.0 and abs((1.0 - p) - states[acc].identity_conf) < 0.05
        assert 8.0 < t_met < 9.0  # they close in on each other just before crossing at t = 9 s


def test_take_after_a_close_crossing_sends_the_partner_to_review_too():
    a, b = decide_take_by_a(crossing(0.1))
    assert a.items == {"cola": 1} and a.review and "identity uncertain" in a.reasons[0]
    assert b.items == {} and b.review and b.reasons[0].startswith("may have been swapped with A")


def test_encounter_after_the_take_does_not_doubt_the_partner():
    early = ShelfEvent(t_start=6.0, t_end=6.5, t_final=7.0, cells=(0,), delta_g=(-352.0,), sd_g=(1.0,))
    a, b = decide_take_by_a(crossing(0.1), early)
    assert a.review and "identity uncertain" in a.reasons[0]  # the track's own doubt stays
    assert b.items == {} and not b.review and b.reasons == ()


def test_crossing_well_apart_leaves_the_partner_alone():
    a, b = decide_take_by_a(crossing(1.2))
    assert a.items == {"cola": 1} and not a.review
    assert b.items == {} and not b.review and b.reasons == ()


def _leaving_partner_scene() -> Scene:
    """a and b cross closely at t = 9 s; b walks out through OUT by 12.5 s,
    a walks to K1 and stands there until 20 s."""
    a = enter("a", 2.0, (4.0, 1.0, 3.0), (9.0, 3.0, 3.05), (12.5, 4.8, 3.3), (20.0, 4.8, 3.3))
    b = enter("b", 3.5, (7.0, 5.0, 3.0), (9.0, 3.0, 2.95), (12.0, 5.5, 0.4), (12.5, 5.5, 0.05))
    return Scene([a, b], taps=TAPS, seed=2)


def _engine_until(config: EngineConfig, t_stop: float) -> tuple[Engine, list]:
    scene = _leaving_partner_scene()
    items = sorted([*scene.taps, *scene.frames()], key=lambda x: x.t)
    eng = Engine(STORE, config)
    for item in items:
        if item.t > t_stop:
            break
        eng.feed(item)
    return eng, [x for x in items if x.t > t_stop]


def _leaver_and_stayer(eng: Engine) -> tuple[str, str]:
    (leaver,) = [a for a, status in eng.tracker.accounts().items() if status == "exited"]
    return leaver, ({"A", "B"} - {leaver}).pop()


def _take_by(eng: Engine, account: str) -> None:
    late = ShelfEvent(t_start=15.0, t_end=15.5, t_final=15.9, cells=(0,), delta_g=(-352.0,), sd_g=(1.0,))
    w = next(w for w in eng.tracker.window(15.0, 15.5) if w.account == account)
    eng._decide_event(late, [Candidate(account, 0.999, w.identity_conf, 0.01, {}, (w.track_id,), 1.0, 0.01),
                             Candidate(UNKNOWN, 0.001, 0.0, float("inf"), {}, ())])


def test_receipt_of_a_leaver_waits_for_its_swap_partner():
    # one of them left by OUT first (the tracks may have swapped at the crossing:
    # which label left does not matter); if they swapped, what the stayer's track
    # takes afterwards belongs to the leaver's account, so its receipt waits
    eng, rest = _engine_until(EngineConfig(), 15.9)
    leaver, stayer = _leaver_and_stayer(eng)
    assert leaver not in eng.book.receipts and eng.book.is_open(leaver)  # held
    _take_by(eng, stayer)
    for item in rest:
        eng.feed(item)
    eng.finish()
    r = eng.book.receipts[leaver]
    doubts = [why for _, why in eng.book.ledgers[leaver].shared.values()]
    assert r.items == {} and r.confidence < 0.9
    assert any(why.startswith(f"may have been swapped with {stayer}") for why in doubts)
    assert r.exit_t is not None and r.exit_t < 14.0 and r.decided_t > 15.9


def test_without_the_wait_the_leavers_receipt_misses_the_doubt():
    eng, rest = _engine_until(dataclasses.replace(EngineConfig(), partner_wait_s=0.0), 15.9)
    leaver, stayer = _leaver_and_stayer(eng)
    r = eng.book.receipts[leaver]  # decided at the exit
    _take_by(eng, stayer)
    assert r.items == {} and r.confidence == 1.0 and r.decided_t < 15.9

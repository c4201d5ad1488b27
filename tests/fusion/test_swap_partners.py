"""A possible identity swap doubts both receipts: the partner's lacks what the track did."""

from fusion.attribution import UNKNOWN, Candidate
from fusion.engine import Engine
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

"""End of the stream: receipts of shoppers nobody saw leave."""

from fusion.engine import Engine
from fusion.types import GateTap
from tests.fusion.test_swap_partners import STORE
from tests.fusion.test_tracking import enter
from tests.fusion.test_tracking_scenes import Scene


def _replay(scene: Scene) -> dict:
    eng = Engine(STORE)
    for item in sorted([*scene.taps, *scene.frames()], key=lambda x: x.t):
        eng.feed(item)
    eng.finish()
    return {r.shopper: r for r in eng.receipts()}


def test_a_shopper_lost_from_view_long_before_the_end_goes_to_review():
    # a walks to the middle of the store and is never detected after 8 s (the
    # cameras lost them; nobody saw them leave); b stands in view to the end
    a = enter("a", 2.0, (6.0, 3.0, 3.0), (40.0, 3.0, 3.0), gaps=[(8.0, 41.0)])
    b = enter("b", 3.5, (7.0, 2.0, 4.0), (40.0, 2.0, 4.0))
    got = _replay(Scene([a, b], taps=[GateTap(2.0, "IN", "A"), GateTap(3.5, "IN", "B")], seed=3))
    assert got["A"].review and got["A"].exit_t is None
    reason = got["A"].reasons[0]
    assert reason.startswith("lost from view at t=") and reason.endswith(", not seen leaving")
    assert 7.5 <= float(reason.split("t=")[1].split(",")[0]) <= 8.0
    # still in view when the recording ends: not finished, but nothing was missed
    assert not got["B"].review and got["B"].exit_t is None and got["B"].confidence == 1.0


def test_a_tap_nobody_was_seen_for_goes_to_review():
    b = enter("b", 3.5, (7.0, 2.0, 4.0), (40.0, 2.0, 4.0))
    got = _replay(Scene([b], taps=[GateTap(2.0, "IN", "GHOST"), GateTap(3.5, "IN", "B")], seed=4))
    assert got["GHOST"].review and got["GHOST"].reasons == ("never seen inside",)
    assert not got["B"].review


def test_a_party_that_leaves_with_a_member_never_seen_inside_goes_to_review():
    # P taps for two, but only one person is ever seen: in and out through OUT;
    # Q, a party of one, does the same: nobody is missing there
    p = enter("p", 2.0, (5.0, 3.0, 3.0), (9.0, 5.5, 0.4), (9.6, 5.5, -0.3))
    q = enter("q", 4.0, (7.0, 2.0, 3.0), (11.0, 5.5, 0.4), (11.6, 5.5, -0.3))
    got = _replay(Scene([p, q], taps=[GateTap(2.0, "IN", "P", 2), GateTap(4.0, "IN", "Q")], seed=5))
    assert got["P"].exit_t is not None and got["P"].review
    assert got["P"].reasons == ("party member(s) never seen inside: 1",)
    assert got["Q"].exit_t is not None and not got["Q"].review

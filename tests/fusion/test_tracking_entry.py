"""Entry-gate scenes: queues, parties, crossings with a blind camera, partial exits.

Scripted detections from :mod:`tests.fusion.test_tracking_scenes` (no mocks):
the gate ``IN`` is at the bottom left, ``OUT`` at the bottom right.
"""

from __future__ import annotations

from fusion.tracking import ShopperTracker
from fusion.types import GateTap
from tests.fusion.test_tracking_scenes import Camera, Scene, make_store, run, track_of, walker

STORE = make_store()


def _bound(trk, person, t0, t1):
    w = track_of(trk, person, t0, t1)
    assert w is not None, f"no track follows {person.name} in [{t0}, {t1}]"
    return w


def test_queue_of_three_tapping_one_and_a_half_seconds_apart():
    # a queue in file outside IN (0.7 m apart); each steps up to the gate point
    # (0.5, 0.4), taps, waits 0.4 s and walks in; the one behind moves up
    a = walker("a", (0.0, 0.5, 0.4), (2.4, 0.5, 0.4), (3.4, 1.5, 1.6), (8.0, 2.0, 4.5))
    b = walker("b", (0.0, 0.5, -0.3), (2.6, 0.5, -0.3), (3.2, 0.5, 0.4), (3.9, 0.5, 0.4),
               (5.0, 2.5, 1.5), (9.0, 4.0, 3.5))
    c = walker("c", (0.0, 0.5, -1.0), (3.2, 0.5, -1.0), (3.8, 0.5, -0.3), (4.7, 0.5, 0.4),
               (5.4, 0.5, 0.4), (6.5, 1.0, 2.5), (9.0, 1.2, 4.5))
    taps = [GateTap(2.0, "IN", "A"), GateTap(3.5, "IN", "B"), GateTap(5.0, "IN", "C")]
    trk = ShopperTracker(STORE)
    run(trk, Scene([a, b, c], taps=taps, seed=21))
    got = [_bound(trk, p, 7.0, 8.0) for p in (a, b, c)]
    assert [w.account for w in got] == ["A", "B", "C"]
    assert min(w.identity_conf for w in got) > 0.9


def test_party_of_three_on_one_tap_is_bound_with_high_confidence():
    # the payer taps at the gate point, the two others follow through 1.2 s apart
    p0 = walker("p0", (0.5, 0.5, -0.3), (1.5, 0.5, 0.4), (2.4, 0.5, 0.4), (3.5, 2.0, 2.0),
                (9.0, 4.0, 4.5))
    p1 = walker("p1", (0.5, 0.5, -1.0), (2.2, 0.5, -0.3), (3.2, 0.5, 0.4), (4.5, 1.0, 2.5),
                (9.0, 2.5, 5.0))
    p2 = walker("p2", (0.5, 0.5, -1.7), (2.9, 0.5, -1.0), (3.6, 0.5, -0.3), (4.4, 0.5, 0.4),
                (5.5, 1.5, 1.5), (9.0, 4.5, 2.0))
    trk = ShopperTracker(STORE)
    run(trk, Scene([p0, p1, p2], taps=[GateTap(2.0, "IN", "P", 3)], seed=22))
    got = [_bound(trk, p, 8.0, 9.0) for p in (p0, p1, p2)]
    assert [w.account for w in got] == ["P", "P", "P"]
    assert len({w.track_id for w in got}) == 3
    assert min(w.identity_conf for w in got) > 0.9


def test_party_member_passing_after_the_next_tapper_keeps_a_high_confidence():
    # P taps for two; p0 walks in, p1 lags a step aside, Q taps and walks in
    # first, then p1 follows: out of order, but Q's tap was filled by the
    # person who tapped it, so p1 and q cannot be swapped
    p0 = walker("p0", (0.5, 0.5, -0.3), (1.5, 0.5, 0.4), (2.4, 0.5, 0.4), (3.5, 2.0, 2.0),
                (9.0, 4.0, 4.5))
    p1 = walker("p1", (0.5, 1.3, -0.7), (3.6, 1.3, -0.7), (4.2, 0.5, 0.4), (5.5, 1.0, 2.5),
                (9.0, 2.5, 5.0))
    q = walker("q", (0.5, 0.2, -0.9), (2.5, 0.5, -0.2), (2.9, 0.5, 0.4), (3.3, 0.5, 0.45),
               (4.5, 3.0, 1.5), (9.0, 5.0, 3.0))
    trk = ShopperTracker(STORE)
    run(trk, Scene([p0, p1, q], taps=[GateTap(2.0, "IN", "P", 2), GateTap(3.0, "IN", "Q")],
                   seed=23))
    got = [_bound(trk, p, 8.0, 9.0) for p in (p0, p1, q)]
    assert [w.account for w in got] == ["P", "P", "Q"]
    assert min(w.identity_conf for w in got) > 0.9


def test_entrant_seen_by_one_camera_passing_close_to_someone_inside_is_bound():
    # s tapped first and stands just inside the gate, seen by all three
    # cameras; e taps and walks in past s (0.3 m away), seen by C1 alone, so
    # its track has less than half the detections of s's: it is no shadow
    # (dropped as one, e's detections went to s's track, and e's takes of
    # the next seconds would have been charged to S)
    s = walker("s", (0.0, 0.5, -0.3), (1.0, 0.5, 0.4), (2.5, 0.3, 1.6), (12.0, 0.3, 1.6),
               (16.0, 2.0, 4.5))
    e = walker("e", (4.0, 0.5, -0.6), (5.5, 0.5, 0.4), (6.0, 0.5, 0.4), (6.6, 0.2, 1.3),
               (9.5, 0.0, 1.5), (13.0, 1.5, 4.5), seen_by=("C1",))
    taps = [GateTap(0.8, "IN", "S"), GateTap(5.8, "IN", "E")]
    trk = ShopperTracker(STORE)
    run(trk, Scene([s, e], taps=taps, seed=23))
    for t0 in (7.0, 10.0, 12.0):
        ws, we = _bound(trk, s, t0, t0 + 1.0), _bound(trk, e, t0, t0 + 1.0)
        assert (ws.account, we.account) == ("S", "E")
        assert ws.track_id != we.track_id


def test_crossing_with_one_camera_blind_for_a_second_keeps_identities():
    # a walks left to right, b right to left, passing 0.5 m apart at t = 9;
    # camera C1 sees nothing from 8.5 to 9.5 s, C2 still sees them
    a = walker("a", (1.2, 0.5, -0.3), (2.0, 0.5, 0.4), (2.6, 0.6, 1.2), (5.0, 1.0, 2.75),
               (9.0, 3.0, 2.75), (13.0, 5.0, 2.75))
    b = walker("b", (3.2, 0.5, -0.3), (4.0, 0.5, 0.4), (4.6, 0.6, 1.2), (6.0, 5.0, 3.25),
               (9.0, 3.0, 3.25), (13.0, 1.0, 3.25))
    cams = [Camera("C1", 15.0, 0.0, 0.0), Camera("C2", 12.0, 0.013, 0.02)]
    scene = Scene([a, b], taps=[GateTap(2.0, "IN", "A"), GateTap(4.0, "IN", "B")],
                  cameras=cams, blind=[("C1", 8.5, 9.5)], seed=23)
    trk = ShopperTracker(STORE)
    run(trk, scene)
    wa, wb = _bound(trk, a, 11.5, 13.0), _bound(trk, b, 11.5, 13.0)
    assert (wa.account, wb.account) == ("A", "B")
    assert min(wa.identity_conf, wb.identity_conf) > 0.8


def test_one_party_member_leaves_while_the_other_stays():
    p0 = walker("p0", (0.5, 0.5, -0.3), (1.5, 0.5, 0.4), (2.4, 0.5, 0.4), (4.0, 2.5, 2.0),
                (8.0, 5.5, 0.4), (8.6, 5.5, -0.3))
    p1 = walker("p1", (0.5, 0.5, -1.0), (2.2, 0.5, -0.3), (3.2, 0.5, 0.4), (5.0, 2.0, 3.5),
                (16.0, 2.5, 3.5), (19.0, 5.5, 0.4), (19.6, 5.5, -0.3))
    trk = ShopperTracker(STORE)
    scene = Scene([p0, p1], taps=[GateTap(2.0, "IN", "P", 2)], seed=24)
    run(trk, scene, until=14.0)
    assert trk.accounts() == {"P": "inside"}
    assert trk.pop_exits(14.0) == []
    assert _bound(trk, p1, 12.0, 14.0).account == "P"
    run(ShopperTracker(STORE), scene)  # the scene replays identically (seeded)
    trk = ShopperTracker(STORE)
    run(trk, scene)
    assert trk.accounts() == {"P": "exited"}
    (ev,) = trk.pop_exits(30.0)
    assert abs(ev.exit_t - 19.6) < 0.5


def test_a_party_member_who_leaves_does_not_end_a_party_still_queueing_on_its_tap():
    # P taps for two; p0 walks in and out again at once, p1 waits in the
    # queue outside (a full store) and walks in 12 s later on the same tap
    p0 = walker("p0", (0.5, 0.5, -0.3), (1.5, 0.5, 0.4), (2.4, 0.5, 0.4), (4.0, 2.5, 2.0),
                (8.0, 5.5, 0.4), (8.6, 5.5, -0.3))
    p1 = walker("p1", (0.5, 0.5, -1.6), (13.0, 0.5, -1.6), (14.0, 0.5, 0.4), (14.6, 0.5, 0.4),
                (16.0, 2.0, 3.5), (24.0, 2.5, 3.5), (27.0, 5.5, 0.4), (27.6, 5.5, -0.3))
    scene = Scene([p0, p1], taps=[GateTap(2.0, "IN", "P", 2)], seed=25)
    trk = ShopperTracker(STORE)
    at_13 = []
    run(trk, scene, on_step=lambda t: at_13.append(trk.accounts()) if t >= 13.0 and not at_13 else None)
    assert at_13 == [{"P": "inside"}]  # p0 left at 8.6 s, but P's tap still has a slot
    assert _bound(trk, p1, 20.0, 24.0).account == "P"
    (ev,) = trk.pop_exits(40.0)
    assert abs(ev.exit_t - 27.6) < 0.5


def test_two_taps_whose_people_pass_together_are_each_others_swap_partners():
    # A and B tap 0.5 s apart and walk in side by side: either may be either
    a = walker("a", (0.0, 0.4, -0.4), (1.0, 0.4, 0.4), (1.6, 0.4, 0.5), (3.0, 1.5, 2.0),
               (9.0, 1.5, 4.5))
    b = walker("b", (0.0, 0.75, -0.4), (1.5, 0.75, 0.0), (2.2, 0.75, 0.5), (3.5, 3.0, 2.0),
               (9.0, 4.0, 4.5))
    taps = [GateTap(0.9, "IN", "A"), GateTap(1.4, "IN", "B")]
    trk = ShopperTracker(STORE)
    run(trk, Scene([a, b], taps=taps, seed=26))
    wa, wb = _bound(trk, a, 7.0, 8.0), _bound(trk, b, 7.0, 8.0)
    assert {wa.account, wb.account} == {"A", "B"}
    doubt = 1.0 - min(wa.identity_conf, wb.identity_conf)
    assert doubt > 0.05
    # the engine holds the receipt of the one who leaves first while the other
    # is inside, and doubts it when the other's track takes something
    assert trk.partners("A", 0.05).get("B", 0.0) >= 0.05
    assert trk.partners("B", 0.05).get("A", 0.0) >= 0.05

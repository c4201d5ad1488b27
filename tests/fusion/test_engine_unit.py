"""Engine decisions on hand-made candidates (no recording)."""

from fusion.attribution import UNKNOWN, Candidate
from fusion.engine import Engine
from fusion.store import parse_store
from fusion.types import ShelfEvent

STORE = parse_store({
    "sku": [{"id": "cola", "weight_g": 352.0, "weight_sd_g": 2.0}],
    "cell": [{"id": "K1", "front": [[0.0, 2.0, 1.2], [0.4, 2.0, 1.2]], "skus": ["cola"]}],
    "gate": [{"id": "G", "zone": [[0, 0], [1, 0], [1, 1]], "kind": "both"}]})
TAKE = ShelfEvent(t_start=10.0, t_end=10.8, t_final=11.2, cells=(0,), delta_g=(-352.0,), sd_g=(1.0,))


def test_take_by_nobody_we_can_name_flags_unseen_accounts():
    eng = Engine(STORE)
    for a in ("A", "B"):
        eng.book.open(a, 1.0)
    eng._decide_event(TAKE, [Candidate(UNKNOWN, 1.0, 0.0, float("inf"), {}, ())])
    for a in ("A", "B"):
        r = eng.book.finalise(a, 20.0, 21.0)
        assert r.review and r.items == {} and "not seen" in r.reasons[0]


def test_confident_take_is_charged_without_review():
    eng = Engine(STORE)
    eng.book.open("A", 1.0)
    eng.book.open("B", 1.0)
    eng._decide_event(TAKE, [Candidate("A", 0.999, 1.0, 0.01, {}, (1,), 1.0, 0.01),
                             Candidate(UNKNOWN, 0.001, 0.0, float("inf"), {}, ())])
    a, b = eng.book.finalise("A", 20.0, 21.0), eng.book.finalise("B", 20.0, 21.0)
    assert a.items == {"cola": 1} and not a.review and a.lines[0].cell == "K1"
    assert b.items == {} and not b.review


def test_units_all_charged_to_one_hand_are_doubted_when_another_hand_may_have_taken_some():
    """Two colas went at once; A reached in and took them (likelihood 0.74, one
    reach), B's hand came within 13 cm of the edge (0.05, one reach). A is
    charged both; 1 - the allocation's posterior (0.64) is a doubt on A's
    receipt, not only when the units are split (the `narrow_plates` variant:
    four units charged to one account at 0.39 went out unreviewed)."""
    two = ShelfEvent(t_start=10.0, t_end=10.8, t_final=11.2, cells=(0,), delta_g=(-704.0,), sd_g=(1.0,))
    eng = Engine(STORE)
    eng.book.open("A", 1.0)
    eng.book.open("B", 1.0)
    eng._decide_event(two, [Candidate("A", 0.93, 1.0, 0.04, {}, (1,), 0.74, 0.04, reaches=1),
                            Candidate("B", 0.07, 1.0, 0.13, {}, (2,), 0.05, 0.13, reaches=1),
                            Candidate(UNKNOWN, 0.0, 0.0, float("inf"), {}, ())])
    a = eng.book.finalise("A", 20.0, 21.0)
    assert a.items == {"cola": 2} and a.review
    assert any("shared take" in r for r in a.reasons)
    # a clear single reach with nobody else near stays unreviewed
    eng = Engine(STORE)
    eng.book.open("A", 1.0)
    eng._decide_event(two, [Candidate("A", 0.999, 1.0, 0.04, {}, (1,), 3.0, 0.04, reaches=1),
                            Candidate(UNKNOWN, 0.001, 0.0, float("inf"), {}, ())])
    a = eng.book.finalise("A", 20.0, 21.0)
    assert a.items == {"cola": 2} and not a.review

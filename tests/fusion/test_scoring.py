import pytest

from fusion.scoring import score
from fusion.types import Receipt, ReceiptLine, Truth, TruthEvent, TruthShopper


def truth():
    return Truth(shoppers={
        "A": TruthShopper("A", 1.0, 50.0, {"cola": 2}),
        "B": TruthShopper("B", 2.0, 60.0, {"chips": 1}),
        "C": TruthShopper("C", 3.0, 70.0, {}),
        "D": TruthShopper("D", 4.0, 80.0, {"cola": 1}),
    }, events=(TruthEvent(10.0, "A", "K1", "cola", 2), TruthEvent(20.0, "B", "K2", "chips", 1),
               TruthEvent(30.0, "D", "K1", "cola", 1)))


def receipt(who, items, review=False, lines=()):
    return Receipt(shopper=who, items=items, review=review, confidence=0.9, exit_t=None, decided_t=99.0,
                   lines=tuple(lines))


def test_spec_scorecard():
    rs = [receipt("A", {"cola": 2}, lines=[ReceiptLine(10.5, "K1", "cola", 2, 0.9)]),
          receipt("B", {"chips": 1}, review=True, lines=[ReceiptLine(20.2, "K2", "chips", 1, 0.5)]),
          receipt("C", {"chips": 1}),   # charged for nothing taken: a sale and wrong
          ]                             # D has no receipt: wrong, missing
    card = score(rs, truth())
    assert card.sales == 4 and card.reviews == 1 and card.wrong == 2 and card.missing_receipts == 1
    assert card.reviews_per_1000 == pytest.approx(250.0)
    assert card.wrong_per_1000 == pytest.approx(500.0)
    # charged 4 units, 3 right; true 4 units
    assert card.item_precision == pytest.approx(3 / 4) and card.item_recall == pytest.approx(3 / 4)
    assert card.unit_recall == pytest.approx(3 / 4) and card.unit_precision == 1.0
    assert card.attribution_accuracy == 1.0
    assert set(card.wrong_accounts) == {"C", "D"}


def test_a_reviewed_receipt_counts_even_when_nothing_was_taken_or_charged():
    # the spec: reviews per 1,000 sales = receipts with review: true / sales
    rs = [receipt("A", {"cola": 2}), receipt("B", {"chips": 1}),
          receipt("C", {}, review=True), receipt("D", {"cola": 1})]
    card = score(rs, truth())
    assert card.sales == 3 and card.reviews == 1 and card.wrong == 0
    assert card.reviews_per_1000 == pytest.approx(1000 / 3)


def test_attribution_accuracy_counts_wrong_account():
    rs = [receipt("A", {}), receipt("B", {"chips": 1}), receipt("C", {}),
          receipt("D", {"cola": 3}, lines=[ReceiptLine(10.1, "K1", "cola", 2, 0.9),
                                          ReceiptLine(30.0, "K1", "cola", 1, 0.9)])]
    card = score(rs, truth())
    assert card.unit_recall == pytest.approx(3 / 4)
    assert card.attribution_accuracy == pytest.approx(1 / 3)


def test_lines_outside_window_do_not_match():
    rs = [receipt("A", {"cola": 2}, lines=[ReceiptLine(13.0, "K1", "cola", 2, 0.9)])]
    card = score(rs, truth())
    assert card.unit_precision == 0.0


def located_truth():
    """A at (1, 3) takes a cola at t=10; B at (2, 3) takes chips at t=20."""
    return Truth(shoppers={
        "A": TruthShopper("A", 1.0, 50.0, {"cola": 1}),
        "B": TruthShopper("B", 2.0, 60.0, {"chips": 1}),
        "C": TruthShopper("C", 3.0, 70.0, {}),
    }, events=(TruthEvent(10.0, "A", "K1", "cola", 1, xy=(1.0, 3.0)),
               TruthEvent(20.0, "B", "K2", "chips", 1, xy=(2.0, 3.0))))


def test_wrong_account_units_split_into_identity_and_attribution_errors():
    rs = [receipt("A", {}), receipt("B", {}),
          # C's track stood where A stood: right person, wrong account (identity error)
          receipt("C", {"cola": 1, "chips": 1}, lines=[
              ReceiptLine(10.2, "K1", "cola", 1, 0.9, xy=(1.1, 3.15)),
              # ... and 0.8 m from B: another person was charged (attribution error)
              ReceiptLine(20.1, "K2", "chips", 1, 0.9, xy=(2.8, 3.0))])]
    card = score(rs, located_truth())
    assert card.matched_units == 2 and card.attribution_accuracy == 0.0
    assert (card.identity_errors, card.attribution_errors, card.unlocated_errors) == (1, 1, 0)
    assert card.identity_per_1000_units == pytest.approx(500.0)
    d = card.as_dict()
    assert d["identity_errors"] == 1 and d["attribution_errors"] == 1
    assert d["attribution_errors_per_1000_units"] == pytest.approx(500.0)
    text = "\n".join(card.lines())
    assert "identity errors 1" in text and "attribution errors 1" in text


def test_threshold_is_a_parameter_and_right_accounts_are_not_errors():
    rs = [receipt("A", {"cola": 1}, lines=[ReceiptLine(10.0, "K1", "cola", 1, 0.9, xy=(5.0, 5.0))]),
          receipt("C", {"chips": 1}, lines=[ReceiptLine(20.0, "K2", "chips", 1, 0.9, xy=(2.4, 3.0))])]
    near = score(rs, located_truth())          # 0.4 m away: another person at 0.3 m
    assert (near.identity_errors, near.attribution_errors) == (0, 1)
    wide = score(rs, located_truth(), same_person_m=0.5)
    assert (wide.identity_errors, wide.attribution_errors) == (1, 0)


def test_units_without_positions_are_unlocated():
    rs = [receipt("C", {"cola": 1, "chips": 1}, lines=[
        ReceiptLine(10.0, "K1", "cola", 1, 0.9),                   # line without xy
        ReceiptLine(20.0, "K2", "chips", 1, 0.9, xy=(2.0, 3.0))])]
    t = located_truth()
    t = Truth(t.shoppers, (t.events[0], TruthEvent(20.0, "B", "K2", "chips", 1)))  # truth without xy
    card = score(rs, t)
    assert (card.identity_errors, card.attribution_errors, card.unlocated_errors) == (0, 0, 2)
    assert "unlocated 2" in "\n".join(card.lines())


def test_wrong_account_split_over_a_written_and_read_receipts_file(tmp_path):
    """The split works on receipts.json / truth.json as written and read back."""
    import json

    from fusion.recording import load_receipts, load_truth, truth_to_json, write_receipts
    rs = [receipt("C", {"cola": 1}, lines=[ReceiptLine(10.2, "K1", "cola", 1, 0.9, xy=(1.05, 3.0))])]
    write_receipts(tmp_path / "receipts.json", rs)
    (tmp_path / "truth.json").write_text(json.dumps(truth_to_json(located_truth())))
    card = score(load_receipts(tmp_path / "receipts.json"), load_truth(tmp_path / "truth.json"))
    assert card.identity_errors == 1


def test_reviews_are_tallied_by_the_kind_of_their_first_reason():
    from dataclasses import replace

    from fusion.scoring import reason_kind
    rs = [replace(receipt("A", {"cola": 2}, review=True),
                  reasons=("who took it uncertain: +2 cola at K1 t=10.0", "may have made +1 chips at K2 t=20.0")),
          replace(receipt("B", {}, review=True), reasons=("may have made +1 chips at K2 t=20.0",)),
          replace(receipt("D", {"cola": 1}, review=True),
                  reasons=("who took it uncertain: +1 cola at K1 t=30.0",)),
          replace(receipt("C", {}, review=True), reasons=("who took it uncertain: +1 x",))]  # not a sale
    card = score(rs, truth())
    # A and D were charged right (a reviewer leaves them), B lacks its chips
    assert card.review_reasons == (("who took it uncertain", 2, 0), ("may have made", 0, 1))
    assert any(line.startswith("reviews by first reason") and "who took it uncertain 2/0" in line
               for line in card.lines())
    assert reason_kind("may have been swapped with A065: +1 cola at K1 t=3.1") == \
        "may have been swapped with another account"
    assert reason_kind("returned 1 x cola never taken by this account") == "returned"
    assert score([receipt("A", {"cola": 2})], truth()).review_reasons == ()


def test_review_curve_reflags_by_confidence():
    from fusion.scoring import review_curve
    rs = [Receipt(shopper=a, items=i, review=False, confidence=c, exit_t=None, decided_t=99.0)
          for a, i, c in (("A", {"cola": 2}, 0.95), ("B", {}, 0.6), ("C", {}, 0.7), ("D", {"cola": 1}, 1.0))]
    lo, mid, hi = review_curve(rs, truth(), [0.0, 0.65, 1.0])
    assert (lo.reviews, lo.wrong) == (0, 1)   # B's missing chips reach the customer
    assert (mid.reviews, mid.wrong) == (1, 0)  # B reviewed
    assert (hi.reviews, hi.wrong) == (3, 0)    # all but D (confidence 1.0); C is not a sale
    assert hi.reviews_per_1000 == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="threshold"):
        review_curve(rs, truth(), [1.2])

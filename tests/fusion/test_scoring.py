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

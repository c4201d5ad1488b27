from fusion.receipt import ReceiptBook, ReceiptConfig
from fusion.types import ReceiptLine


def test_confident_receipt_is_not_reviewed():
    book = ReceiptBook(ReceiptConfig(review_below=0.9))
    book.open("A", 1.0)
    book.add_line("A", ReceiptLine(5.0, "K1", "cola", 2, 0.99))
    book.add_line("A", ReceiptLine(9.0, "K1", "cola", -1, 0.99))
    book.add_doubt("A", 0.01, "tiny")
    r = book.finalise("A", 20.0, 21.0)
    assert dict(r.items) == {"cola": 1} and not r.review and r.reasons == ()
    assert r.confidence == 0.99
    assert book.finalise("A", 30.0, 31.0) is r  # first decision stands
    assert not book.is_open("A")


def test_doubts_send_to_review_with_reasons():
    book = ReceiptBook(ReceiptConfig(review_below=0.9))
    book.open("B", 1.0)
    book.add_doubt("B", 0.3, "who took it uncertain")
    r = book.finalise("B", None, 5.0)
    assert r.review and r.reasons == ("who took it uncertain",) and r.items == {}


def test_return_of_never_taken_item_is_reviewed():
    book = ReceiptBook()
    book.open("C", 0.0)
    book.add_line("C", ReceiptLine(5.0, "K1", "cola", -1, 0.99))
    r = book.finalise("C", 9.0, 10.0)
    assert r.review and "never taken" in r.reasons[0] and r.items == {}


def test_shared_doubt_counts_once_at_its_largest():
    book = ReceiptBook(ReceiptConfig(review_below=0.85))
    book.open("A", 0.0)
    for t in (5.0, 9.0, 14.0):   # three takes on one track whose identity is 0.9 sure
        book.add_line("A", ReceiptLine(t, "K1", "cola", 1, 0.9))
        book.add_shared_doubt("A", ("identity", (7,)), 0.1, f"identity uncertain t={t}")
    book.add_shared_doubt("A", ("identity", (7,)), 0.05, "smaller")
    r = book.finalise("A", 20.0, 21.0)
    assert r.confidence == 0.9 and not r.review

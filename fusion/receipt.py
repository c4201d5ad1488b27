"""Per-account ledgers that turn attributed lines into receipts.

Each account collects :class:`fusion.types.ReceiptLine` entries and *doubts*:
the probability that something about its basket is wrong (an item that may
belong to someone else, a count that may be off, a take by a track whose
identity is uncertain). A receipt's confidence is the probability that none
of its doubts came true; below :attr:`ReceiptConfig.review_below` it goes to
human review with the reasons listed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fusion.types import Receipt, ReceiptLine, frozen_map


@dataclass(frozen=True, slots=True)
class ReceiptConfig:
    """Tunables of receipts.

    Attributes:
        review_below: a receipt whose confidence is below this goes to review.
        doubt_floor: doubts smaller than this are not listed as reasons.
    """

    review_below: float = 0.85
    doubt_floor: float = 0.02


@dataclass(slots=True)
class Ledger:
    """What one account has done so far."""

    account: str
    enter_t: float
    lines: list[ReceiptLine] = field(default_factory=list)
    doubts: list[tuple[float, str]] = field(default_factory=list)  # (p_wrong, reason)
    shared: dict[object, tuple[float, str]] = field(default_factory=dict)  # key -> largest doubt

    def basket(self) -> Counter:
        """Net SKU counts held now (may be negative after an odd return)."""
        c: Counter = Counter()
        for ln in self.lines:
            c[ln.sku] += ln.qty
        return c


class ReceiptBook:
    """Ledgers of every tapped account, and their receipts once decided."""

    def __init__(self, config: ReceiptConfig | None = None):
        self.config = config or ReceiptConfig()
        self.ledgers: dict[str, Ledger] = {}
        self.receipts: dict[str, Receipt] = {}

    def open(self, account: str, t: float) -> None:
        """Start (or keep) a ledger for ``account`` entering at ``t`` (s)."""
        if account not in self.ledgers:
            self.ledgers[account] = Ledger(account, t)

    def is_open(self, account: str) -> bool:
        return account in self.ledgers and account not in self.receipts

    def basket(self, account: str) -> Counter:
        return self.ledgers[account].basket() if account in self.ledgers else Counter()

    def add_line(self, account: str, line: ReceiptLine) -> None:
        self.ledgers[account].lines.append(line)

    def add_doubt(self, account: str, p_wrong: float, reason: str) -> None:
        """Record a probability ``p_wrong`` (0..1) that this account's receipt is wrong."""
        if account in self.ledgers and p_wrong > 0:
            self.ledgers[account].doubts.append((min(1.0, float(p_wrong)), reason))

    def add_shared_doubt(self, account: str, key: object, p_wrong: float, reason: str) -> None:
        """Record a doubt that several events share (e.g. one track's identity):
        counted once per ``key``, at its largest value, however many events raise it."""
        if account in self.ledgers and p_wrong > 0:
            held = self.ledgers[account].shared.get(key)
            if held is None or p_wrong > held[0]:
                self.ledgers[account].shared[key] = (min(1.0, float(p_wrong)), reason)

    def finalise(self, account: str, exit_t: float | None, decided_t: float) -> Receipt:
        """Decide ``account``'s receipt (idempotent: the first decision stands)."""
        if account in self.receipts:
            return self.receipts[account]
        ledger = self.ledgers[account]
        basket = ledger.basket()
        doubts = list(ledger.doubts) + list(ledger.shared.values())
        for sku, n in basket.items():
            if n < 0:
                doubts.append((0.9, f"returned {-n} x {sku} never taken by this account"))
        confidence = 1.0
        for p, _ in doubts:
            confidence *= 1.0 - p
        reasons = tuple(r for p, r in sorted(doubts, key=lambda d: -d[0]) if p >= self.config.doubt_floor)
        review = confidence < self.config.review_below
        receipt = Receipt(shopper=account, items=frozen_map({k: n for k, n in sorted(basket.items()) if n > 0}),
                          review=review, confidence=round(confidence, 6), exit_t=exit_t,
                          decided_t=decided_t, lines=tuple(ledger.lines),
                          reasons=reasons if review else ())
        self.receipts[account] = receipt
        return receipt

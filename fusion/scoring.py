"""The spec's scorecard, plus diagnostics, comparing receipts with truth.

* A *sale* is a shopper whose true or charged basket is non-empty.
* reviews per 1,000 sales = 1000 x receipts with ``review`` / sales.
* wrong charges per 1,000 sales = 1000 x unreviewed receipts whose items
  differ from the truth / sales. A shopper of the truth with no receipt at all
  counts as a wrong charge when their true basket is non-empty.
* item precision / recall / F1 over (shopper, sku) counts.

Diagnostics (ignoring review flags): receipt lines matched one-to-one, per
unit item, to true events of the same SKU and sign within ``match_s`` seconds
(``unit_recall``/``unit_precision``, whoever was charged), and of those the
share charged to the right account (``attribution_accuracy``).

The matched units charged to the wrong account are split by where the
charged track stood (``ReceiptLine.xy``) against where the person who really
did it stood (``TruthEvent.xy``), both optional extra keys:

* *identity errors*: within ``same_person_m`` (0.3 m) of each other: the
  engine picked the right person, but that person's track carried the wrong
  account (a track swap, an adoption, a party mix-up);
* *attribution errors*: farther apart: the engine picked another person;
* *unlocated*: either position unknown (e.g. a foreign recording).

Rates are per 1,000 matched units.

:func:`review_curve` re-flags the same receipts at other review thresholds
(a receipt is reviewed when its ``confidence`` is below the threshold), so an
integrator can see what ``review_below`` trades before choosing it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from fusion.types import Receipt, Truth


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Scores of one replay (see module docstring)."""

    shoppers: int
    sales: int
    reviews: int
    wrong: int
    missing_receipts: int
    reviews_per_1000: float
    wrong_per_1000: float
    item_precision: float
    item_recall: float
    item_f1: float
    unit_recall: float
    unit_precision: float
    attribution_accuracy: float
    wrong_accounts: tuple[str, ...] = ()
    matched_units: int = 0
    identity_errors: int = 0
    attribution_errors: int = 0
    unlocated_errors: int = 0
    #: per kind of first reason of reviewed sales: (kind, receipts a reviewer
    #: would leave as they are, receipts it would correct), most frequent first
    review_reasons: tuple[tuple[str, int, int], ...] = ()

    @property
    def identity_per_1000_units(self) -> float:
        """Identity errors per 1,000 matched units."""
        return 1000.0 * self.identity_errors / self.matched_units if self.matched_units else 0.0

    @property
    def attribution_errors_per_1000_units(self) -> float:
        """Attribution errors (another person picked) per 1,000 matched units."""
        return 1000.0 * self.attribution_errors / self.matched_units if self.matched_units else 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["identity_per_1000_units"] = self.identity_per_1000_units
        d["attribution_errors_per_1000_units"] = self.attribution_errors_per_1000_units
        return d

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        return [
            f"shoppers {self.shoppers}  sales {self.sales}  reviews {self.reviews}  wrong {self.wrong}"
            + (f"  missing receipts {self.missing_receipts}" if self.missing_receipts else ""),
            f"reviews per 1,000 sales: {self.reviews_per_1000:.1f}",
            f"wrong charges per 1,000 sales: {self.wrong_per_1000:.1f}",
            f"items: precision {self.item_precision:.4f}  recall {self.item_recall:.4f}  F1 {self.item_f1:.4f}",
            f"lines vs true events: unit recall {self.unit_recall:.4f}  unit precision {self.unit_precision:.4f}"
            f"  attribution accuracy {self.attribution_accuracy:.4f}",
            f"wrong-account units: identity errors {self.identity_errors} "
            f"({self.identity_per_1000_units:.1f}/1,000 units, right person, wrong account)  "
            f"attribution errors {self.attribution_errors} "
            f"({self.attribution_errors_per_1000_units:.1f}/1,000 units, another person)"
            + (f"  unlocated {self.unlocated_errors}" if self.unlocated_errors else ""),
        ] + ([("reviews by first reason (already right / to correct): "
               + ", ".join(f"{kind} {ok}/{bad}" for kind, ok, bad in self.review_reasons))]
             if self.review_reasons else [])


def _ratio(a: float, b: float) -> float:
    return a / b if b else 1.0


def score(receipts: Sequence[Receipt], truth: Truth, match_s: float = 2.0,
          same_person_m: float = 0.3) -> Scorecard:
    """Score ``receipts`` against ``truth``.

    Args:
        receipts: the engine's receipts.
        truth: the ground truth.
        match_s: a line unit matches a true unit within this time (s).
        same_person_m: a wrong-account unit whose line position is this close
            to the true event's position is an identity error (m).
    """
    by_account = {r.shopper: r for r in receipts}
    accounts = set(truth.shoppers) | set(by_account)
    sales = reviews = wrong = missing = 0
    tp = charged_n = true_n = 0
    wrong_accounts = []
    reasons: dict[str, list[int]] = {}
    for a in sorted(accounts):
        true_items = dict(truth.shoppers[a].items) if a in truth.shoppers else {}
        r = by_account.get(a)
        charged = dict(r.items) if r else {}
        if not true_items and not charged:
            if r and r.review:
                reviews += 1  # the spec counts every receipt with review: true, sale or not
            continue
        sales += 1
        if r is None:
            missing += 1
            wrong += 1
            wrong_accounts.append(a)
        elif r.review:
            reviews += 1
            tally = reasons.setdefault(reason_kind(r.reasons[0]) if r.reasons else "(no reason given)", [0, 0])
            tally[charged != true_items] += 1
        elif charged != true_items:
            wrong += 1
            wrong_accounts.append(a)
        for sku in set(true_items) | set(charged):
            tp += min(true_items.get(sku, 0), charged.get(sku, 0))
        charged_n += sum(charged.values())
        true_n += sum(true_items.values())
    precision, recall = _ratio(tp, charged_n), _ratio(tp, true_n)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    lines = _line_diagnostics(receipts, truth, match_s, same_person_m)
    return Scorecard(
        shoppers=len(accounts), sales=sales, reviews=reviews, wrong=wrong, missing_receipts=missing,
        reviews_per_1000=1000.0 * _ratio(reviews, sales) if sales else 0.0,
        wrong_per_1000=1000.0 * _ratio(wrong, sales) if sales else 0.0,
        item_precision=precision, item_recall=recall, item_f1=f1,
        unit_recall=lines.recall, unit_precision=lines.precision,
        attribution_accuracy=lines.attribution, wrong_accounts=tuple(wrong_accounts),
        matched_units=lines.matched, identity_errors=lines.identity,
        attribution_errors=lines.other_person, unlocated_errors=lines.unlocated,
        review_reasons=tuple(sorted(((k, ok, bad) for k, (ok, bad) in reasons.items()),
                                    key=lambda x: (-(x[1] + x[2]), x[0]))))


REVIEW_THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """The spec's two numbers if receipts below ``threshold`` confidence were reviewed."""

    threshold: float
    reviews: int
    wrong: int
    reviews_per_1000: float
    wrong_per_1000: float


def review_curve(receipts: Sequence[Receipt], truth: Truth,
                 thresholds: Sequence[float] = REVIEW_THRESHOLDS) -> list[CurvePoint]:
    """Reviews and wrong charges per 1,000 sales at each review threshold.

    Each receipt is flagged again as ``confidence < threshold``, which is how
    the engine decides ``review`` (``ReceiptConfig.review_below``); the rest
    of each receipt is unchanged.

    Raises:
        ValueError: a threshold outside [0, 1].
    """
    out = []
    for thr in thresholds:
        if not 0.0 <= thr <= 1.0:
            raise ValueError(f"review threshold must be in [0, 1], got {thr!r}")
        card = score([replace(r, review=r.confidence < thr) for r in receipts], truth)
        out.append(CurvePoint(float(thr), card.reviews, card.wrong, card.reviews_per_1000,
                              card.wrong_per_1000))
    return out


def reason_kind(reason: str) -> str:
    """The kind of a review reason: its text before the details (``"who took
    it uncertain: +1 cola-330 at K3-2-1 t=40.2"`` -> ``"who took it
    uncertain"``; ``"may have made -1 ..."`` -> ``"may have made"``), with
    an account named after "with" left out."""
    kind = re.split(r":|\s[+-]?\d|\sat\s", reason, maxsplit=1)[0].strip()
    return re.sub(r"\s+with\s+\S+$", " with another account", kind) or reason


@dataclass(frozen=True, slots=True)
class _Lines:
    recall: float
    precision: float
    attribution: float
    matched: int
    identity: int
    other_person: int
    unlocated: int


def _units(receipts: Sequence[Receipt], truth: Truth) -> tuple[list[tuple], list[tuple]]:
    """Per unit item: (t, sku, sign, shopper, xy) of true events and of receipt lines, by time."""
    true_units = []
    for e in truth.events:
        true_units += [(e.t, e.sku, 1 if e.qty > 0 else -1, e.shopper, e.xy)] * abs(e.qty)
    line_units = []
    for r in receipts:
        for ln in r.lines:
            line_units += [(ln.t, ln.sku, 1 if ln.qty > 0 else -1, r.shopper, ln.xy)] * abs(ln.qty)
    true_units.sort(key=lambda u: u[:4])
    line_units.sort(key=lambda u: u[:4])
    return true_units, line_units


def _line_diagnostics(receipts: Sequence[Receipt], truth: Truth, match_s: float,
                      same_person_m: float) -> _Lines:
    """Unit recall/precision, attribution accuracy and the wrong-account split of receipt lines."""
    true_units, line_units = _units(receipts, truth)
    used = [False] * len(true_units)
    matched = right = identity = other = unlocated = 0
    lo = 0
    for t, sku, sign, who, xy in line_units:
        while lo < len(true_units) and true_units[lo][0] < t - match_s:
            lo += 1
        best, best_dt = -1, None
        for j in range(lo, len(true_units)):
            tt, tsku, tsign, twho, _ = true_units[j]
            if tt > t + match_s:
                break
            if used[j] or tsku != sku or tsign != sign:
                continue
            dt = abs(tt - t) - (0.5 * match_s if twho == who else 0.0)
            if best_dt is None or dt < best_dt:
                best, best_dt = j, dt
        if best < 0:
            continue
        used[best] = True
        matched += 1
        true_who, true_xy = true_units[best][3], true_units[best][4]
        if true_who == who:
            right += 1
        elif xy is None or true_xy is None:
            unlocated += 1
        elif math.dist(xy, true_xy) <= same_person_m:
            identity += 1
        else:
            other += 1
    return _Lines(_ratio(matched, len(true_units)), _ratio(matched, len(line_units)),
                  _ratio(right, matched), matched, identity, other, unlocated)

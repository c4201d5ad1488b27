"""Scenario benchmark: simulate presets over seeds, replay, score, time it.

Run: ``python -m bench.scenarios [--scenarios easy,concession] [--seeds 0-4]``
(``make bench`` runs it). Prints a Markdown table: per scenario the summed
scorecard over seeds and the replay speed as a multiple of real time
(store-time seconds / replay wall seconds, one process, one core), and the
units charged to a wrong account split into identity errors (the right person,
whose track carried the wrong account) and attribution errors (another person
picked), summed over seeds (see ``fusion.scoring``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fusion.engine import Engine
from fusion.recording import Recording
from fusion.scoring import review_curve, score
from fusion.sim import simulate


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def replay(folder: Path):
    rec = Recording(folder)
    eng = Engine(rec.store)
    t0 = time.process_time()
    for item in rec.stream():
        eng.feed(item)
    eng.finish()
    cpu = time.process_time() - t0
    return rec, eng, cpu


def run(scenarios: list[str], seeds: list[int], workdir: Path) -> list[dict]:
    rows = []
    for name in scenarios:
        tot = {"sales": 0, "reviews": 0, "wrong": 0, "store_s": 0.0, "cpu_s": 0.0,
               "unit_rec": [], "unit_prec": [], "attr": [], "f1": [],
               "identity": 0, "other_person": 0, "unlocated": 0, "curve": {}}
        for seed in seeds:
            out = workdir / f"{name}-{seed}"
            simulate(name, seed, out)
            rec, eng, cpu = replay(out)
            receipts, truth = eng.receipts(), rec.read_truth()
            card = score(receipts, truth)
            for pt in review_curve(receipts, truth):
                acc = tot["curve"].setdefault(pt.threshold, [0, 0])
                acc[0] += pt.reviews
                acc[1] += pt.wrong
            tot["sales"] += card.sales
            tot["reviews"] += card.reviews
            tot["wrong"] += card.wrong
            tot["store_s"] += eng.now
            tot["cpu_s"] += cpu
            tot["unit_rec"].append(card.unit_recall)
            tot["unit_prec"].append(card.unit_precision)
            tot["attr"].append(card.attribution_accuracy)
            tot["f1"].append(card.item_f1)
            tot["identity"] += card.identity_errors
            tot["other_person"] += card.attribution_errors
            tot["unlocated"] += card.unlocated_errors
            print(f"  {name} seed {seed}: sales {card.sales} reviews {card.reviews} wrong {card.wrong} "
                  f"unit recall {card.unit_recall:.4f} precision {card.unit_precision:.4f} "
                  f"attribution {card.attribution_accuracy:.4f} identity errors {card.identity_errors} "
                  f"attribution errors {card.attribution_errors} ({eng.now / max(cpu, 1e-9):.0f}x real time)",
                  flush=True)
        rows.append({"scenario": name, "seeds": f"{seeds[0]}-{seeds[-1]}", **tot})
    return rows


def table(rows: list[dict]) -> str:
    out = ["| scenario | seeds | sales | reviews /1000 | wrong /1000 | item F1 | unit recall | "
           "unit precision | attribution | identity errors | attribution errors | replay speed (x real time) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = max(r["sales"], 1)
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        unlocated = f" (+{r['unlocated']} unlocated)" if r["unlocated"] else ""
        out.append(f"| {r['scenario']} | {r['seeds']} | {r['sales']} | {1000 * r['reviews'] / s:.1f} | "
                   f"{1000 * r['wrong'] / s:.1f} | {mean(r['f1']):.4f} | {mean(r['unit_rec']):.4f} | "
                   f"{mean(r['unit_prec']):.4f} | {mean(r['attr']):.4f} | {r['identity']} | "
                   f"{r['other_person']}{unlocated} | "
                   f"{r['store_s'] / max(r['cpu_s'], 1e-9):.0f} |")
    return "\n".join(out)


def curve_table(rows: list[dict]) -> str:
    """Reviews / wrong charges per 1,000 sales had receipts been reviewed below each threshold."""
    thresholds = sorted({t for r in rows for t in r["curve"]})
    out = ["| review below | " + " | ".join(r["scenario"] for r in rows) + " |",
           "|---|" + "---|" * len(rows)]
    for t in thresholds:
        cells = []
        for r in rows:
            s = max(r["sales"], 1)
            rev, wrong = r["curve"].get(t, (0, 0))
            cells.append(f"{1000 * rev / s:.1f} / {1000 * wrong / s:.1f}")
        out.append(f"| {t:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", default="easy,concession,rush,aisle")
    p.add_argument("--seeds", default="0-4")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(args.scenarios.split(","), _seeds(args.seeds), Path(tmp))
    text = (table(rows) + "\n\nThe same receipts re-flagged at other review thresholds "
            "(`fusion.scoring.review_curve`; the engine's default is 0.85, "
            "`shelf-fusion replay --review-below`), reviews / wrong charges per 1,000 sales:\n\n"
            + curve_table(rows))
    print(text)
    return text


if __name__ == "__main__":
    main()

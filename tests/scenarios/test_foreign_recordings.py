"""Recordings as other generators may write them: same content, other conventions."""

import gzip
import json
import shutil

import pytest

from fusion.engine import Engine
from fusion.recording import Recording
from fusion.scoring import score

EPOCH = 1_700_000_000.0


def replay(folder):
    rec = Recording(folder)
    eng = Engine(rec.store)
    for item in rec.stream():
        eng.feed(item)
    eng.finish()
    return eng.receipts(), rec.read_truth()


def shift_csv(path, col, offset):
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    i = head.index(col)
    out = [lines[0]]
    for ln in lines[1:]:
        f = ln.split(",")
        f[i] = f"{float(f[i]) + offset:.4f}"
        out.append(",".join(f))
    path.write_text("\n".join(out) + "\n")


def test_epoch_clock_reordered_columns_and_gzip(sim_recording, tmp_path):
    src = sim_recording("easy", 2)
    base_receipts, base_truth = replay(src)
    dst = tmp_path / "foreign"
    shutil.copytree(src, dst)
    # store clock in Unix seconds
    shift_csv(dst / "weights.csv", "t", EPOCH)
    shift_csv(dst / "gates.csv", "t", EPOCH)
    frames = [json.loads(x) for x in (dst / "vision.jsonl").read_text().splitlines()]
    for fr in frames:
        fr["t"] += EPOCH
        fr["source"] = "other-generator"   # unknown keys are ignored
    with gzip.open(dst / "vision.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(fr) + "\n" for fr in frames)
    (dst / "vision.jsonl").unlink()
    truth = json.loads((dst / "truth.json").read_text())
    for s in truth["shoppers"].values():
        s["enter_t"] += EPOCH
        s["exit_t"] = None if s["exit_t"] is None else s["exit_t"] + EPOCH
    for e in truth["events"]:
        e["t"] += EPOCH
    (dst / "truth.json").write_text(json.dumps(truth))
    # columns in another order, plus one we do not know
    lines = (dst / "weights.csv").read_text().splitlines()
    rows = [ln.split(",") for ln in lines]
    body = "".join(f"{c},{g},{t},x\n" for t, c, g in rows[1:])
    (dst / "weights.csv").write_text("cell,grams,t,unused\n" + body)
    receipts, truth2 = replay(dst)
    assert {r.shopper: dict(r.items) for r in receipts} == {r.shopper: dict(r.items) for r in base_receipts}
    card = score(receipts, truth2)
    assert card.wrong == 0 and card.reviews == 0
    assert all(r.decided_t > EPOCH for r in receipts)


@pytest.mark.parametrize("drop", ["hands"])
def test_vision_without_optional_fields_still_charges(sim_recording, tmp_path, drop):
    """No hand points at all (a body-only camera pipeline): the engine still decides."""
    src = sim_recording("easy", 0)
    dst = tmp_path / "nohands"
    shutil.copytree(src, dst)
    frames = [json.loads(x) for x in (dst / "vision.jsonl").read_text().splitlines()]
    for fr in frames:
        for p in fr["people"]:
            p.pop(drop, None)
    (dst / "vision.jsonl").write_text("".join(json.dumps(fr) + "\n" for fr in frames))
    receipts, truth = replay(dst)
    card = score(receipts, truth)
    assert card.item_recall > 0.9   # one shopper at a time: body position is enough
    assert card.wrong == 0

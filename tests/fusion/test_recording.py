import gzip
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusion.errors import RecordingError, ShelfFusionError
from fusion.recording import (
    Recording,
    RecordingWriter,
    load_receipts,
    parse_vision_line,
    write_receipts,
)
from fusion.types import (
    WEIGHT_DTYPE,
    GateTap,
    Hand,
    PersonDetection,
    Receipt,
    ReceiptLine,
    VisionFrame,
)
from tests.fusion.recfixtures import WEIGHTS, make_recording


def test_reads_every_file(tmp_path):
    rec = Recording(make_recording(tmp_path))
    w = np.concatenate(list(rec.iter_weights()))
    assert w.dtype == WEIGHT_DTYPE
    assert w["t"].tolist() == [0.0, 0.012, 0.05, 0.062, 0.1]
    assert w["cell"].tolist() == [0, 1, 0, 1, 0]
    assert np.isnan(w["grams"][3])  # empty grams is a gap, not zero
    frames = list(rec.iter_vision())
    assert frames[0].people[0].hands[1].holding["cola-330"] == pytest.approx(0.8)
    assert frames[1].people == ()
    taps = rec.read_taps()
    assert taps == [GateTap(0.01, "G1", "A17", 1), GateTap(0.06, "G1", "B2", 1)]
    truth = rec.read_truth()
    assert truth.shoppers["A17"].items == {"cola-330": 2}
    assert truth.events[0].qty == 1


def test_merged_stream_is_time_ordered(tmp_path):
    rec = Recording(make_recording(tmp_path))
    times = []
    for item in rec.stream(chunk_rows=2):
        if isinstance(item, np.ndarray):
            times += item["t"].tolist()
        else:
            times.append(item.t)
    assert times == sorted(times)
    assert len(times) == 5 + 2 + 2


def test_unknown_columns_and_keys_ignored_gz_accepted(tmp_path):
    weights = "cell,extra,grams,t\n" + "".join(
        f"A-1,x,{100 + i},{i * 0.1:.1f}\n" for i in range(5))
    make_recording(tmp_path, weights__csv=weights)
    (tmp_path / "weights.csv").rename(tmp_path / "w.tmp")
    with gzip.open(tmp_path / "weights.csv.gz", "wt") as f:
        f.write((tmp_path / "w.tmp").read_text())
    (tmp_path / "w.tmp").unlink()
    line = json.dumps({"t": 1.0, "camera": "C9", "future": 1, "people": [
        {"xy": [1, 2], "conf": 0.5, "pose": [], "track": 7}]})
    (tmp_path / "vision.jsonl").write_text(line + "\n\n")
    rec = Recording(tmp_path)
    w = np.concatenate(list(rec.iter_weights()))
    assert w["grams"].tolist() == [100, 101, 102, 103, 104]
    (fr,) = list(rec.iter_vision())
    assert fr.people[0].track == "7" and fr.people[0].hands == ()


def test_crlf_and_bom(tmp_path):
    make_recording(tmp_path, weights__csv="\ufeff" + WEIGHTS.replace("\n", "\r\n"))
    w = np.concatenate(list(Recording(tmp_path).iter_weights()))
    assert len(w) == 5


@pytest.mark.parametrize("name,text,line,field,reason", [
    ("weights.csv", "t,cell,grams\n0.0,A-1,1\n0.1,A-1,abc\n", 3, "grams", "not a number"),
    ("weights.csv", "t,cell,grams\n0.0,A-1,1\n0.1,Z-9,1\n", 3, "cell", "unknown cell 'Z-9'"),
    ("weights.csv", "t,cell,grams\n0.5,A-1,1\n0.1,A-1,1\n", 3, "t", "time goes backwards"),
    ("weights.csv", "t,cell,grams\n0.5,A-1,1\nx,A-1,1\n", 3, "t", "not a number"),
    ("weights.csv", "t,cell,grams\n-1,A-1,1\n", 2, "t", "negative"),
    ("weights.csv", "t,cell,grams\n1,A-1,inf\n", 2, "grams", "not a finite"),
    ("weights.csv", "t,cell,grams\n1,A-1\n", 2, "", "2 fields"),
    ("weights.csv", "t,cell\n1,A-1\n", 1, "grams", "lacks column"),
    ("weights.csv", "", 1, "", "empty file"),
    ("vision.jsonl", '{"t": 1, "camera": "C1", "people": []}\n{"t": 1, "people": [}\n', 2, "", "broken JSON"),
    ("vision.jsonl", '{"t": 2, "people": []}\n{"t": 1, "people": []}\n', 2, "t", "backwards"),
    ("vision.jsonl", '{"t": 1, "people": [{"xy": [1]}]}\n', 1, "people[0].xy", "2 numbers"),
    ("vision.jsonl", '{"t": 1, "people": [{"xy": [1, 2], "hands": [{"p": [1, 2]}]}]}\n', 1,
     "people[0].hands[0].p", "3 numbers"),
    ("vision.jsonl", '{"t": "soon", "people": []}\n', 1, "t", "finite number"),
    ("vision.jsonl", '[1, 2]\n', 1, "", "JSON object"),
    ("gates.csv", "t,gate,shopper\n1,G7,A\n", 2, "gate", "unknown gate 'G7'"),
    ("gates.csv", "t,gate,shopper,party\n1,G1,A,0\n", 2, "party", "must be >= 1"),
    ("gates.csv", "t,gate,shopper,party\n1,G1,A,two\n", 2, "party", "whole number"),
    ("gates.csv", "t,gate,shopper\n1,G1,\n", 2, "shopper", "empty account"),
    ("gates.csv", "t,shopper\n1,A\n", 1, "gate", "lacks column"),
])
def test_malformed_input_names_file_line_field(tmp_path, name, text, line, field, reason):
    make_recording(tmp_path, **{name.replace(".", "__"): text})
    rec = Recording(tmp_path)
    with pytest.raises(RecordingError) as e:
        list(rec.iter_weights()); list(rec.iter_vision()); rec.read_taps()  # noqa: E702
    err = e.value
    assert err.path.endswith(name) and err.line == line and err.field == field
    assert reason in str(err)
    assert f"{name}:{line}" in str(err) or line == 0


def test_missing_files(tmp_path):
    make_recording(tmp_path)
    (tmp_path / "gates.csv").unlink()
    with pytest.raises(RecordingError, match="missing: a recording needs gates.csv"):
        Recording(tmp_path)
    with pytest.raises(RecordingError, match="not a folder"):
        Recording(tmp_path / "nope")


def test_bad_chunk_found_in_later_chunk(tmp_path):
    rows = "".join(f"{i * 0.01:.2f},A-1,{i}\n" for i in range(1000))
    rows = rows.replace("5.00,A-1,500\n", "5.00,A-1,5OO\n")
    make_recording(tmp_path, weights__csv="t,cell,grams\n" + rows)
    with pytest.raises(RecordingError) as e:
        list(Recording(tmp_path).iter_weights(chunk_rows=64))
    assert e.value.line == 502 and e.value.field == "grams"


# ------------------------------------------------------------- round trips

ids = st.sampled_from(["A-1", "A-2"])
finite = st.floats(-1e5, 1e5, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 60), data=st.data())
def test_writer_reader_round_trip(tmp_path, n, data):
    from fusion.store import load_store
    make_recording(tmp_path)
    store = load_store(tmp_path / "store.toml")
    t = np.cumsum(data.draw(st.lists(st.floats(0, 0.5), min_size=n, max_size=n)))
    s = np.zeros(n, dtype=WEIGHT_DTYPE)
    s["t"] = np.round(t, 4)
    s["cell"] = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    g = np.array(data.draw(st.lists(st.one_of(finite, st.just(float("nan"))), min_size=n, max_size=n)))
    s["grams"] = np.round(g, 2)
    gz = data.draw(st.booleans())
    frames = [VisionFrame(t=float(s["t"][i]), camera="C1", people=(PersonDetection(
        xy=np.array([1.0, 2.0]), conf=0.5,
        hands=(Hand(p=np.array([1.0, 2.0, 1.1]), holding={"chips": 0.25}),)),)) for i in range(0, n, 7)]
    out = tmp_path / f"out{gz}"
    with RecordingWriter(out, store, gzip=gz) as w:
        w.write_weights(s[: n // 2])
        w.write_weights(s[n // 2:])
        for fr in frames:
            w.write_vision(fr)
        w.write_tap(GateTap(0.5, "G1", "A9", 2))
    rec = Recording(out)
    back = np.concatenate(list(rec.iter_weights(chunk_rows=7)))
    np.testing.assert_allclose(back["t"], s["t"], atol=1e-4)
    assert back["cell"].tolist() == s["cell"].tolist()
    np.testing.assert_allclose(back["grams"], s["grams"], atol=0.006, equal_nan=True)
    vf = list(rec.iter_vision())
    assert [f.t for f in vf] == pytest.approx([f.t for f in frames])
    assert all(f.people[0].hands[0].holding == {"chips": 0.25} for f in vf)
    assert rec.read_taps() == [GateTap(0.5, "G1", "A9", 2)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300), which=st.sampled_from(["weights.csv", "vision.jsonl", "gates.csv"]))
def test_arbitrary_bytes_only_raise_our_error(tmp_path, blob, which):
    make_recording(tmp_path)
    prefix = {"weights.csv": b"t,cell,grams\n", "gates.csv": b"t,gate,shopper\n", "vision.jsonl": b""}[which]
    (tmp_path / which).write_bytes(prefix + blob)
    rec = Recording(tmp_path)
    try:
        for _item in rec.stream(chunk_rows=3):
            pass
    except ShelfFusionError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_vision_parser_arbitrary_text(text):
    try:
        parse_vision_line(text, "v.jsonl", 1)
    except RecordingError as e:
        assert e.path == "v.jsonl" and e.line == 1


def test_receipts_round_trip(tmp_path):
    r = Receipt(shopper="A17", items={"cola-330": 2}, review=False, confidence=0.994, exit_t=95.0,
                decided_t=96.1, lines=(ReceiptLine(40.2, "K3-2-1", "cola-330", 1, 0.998),), reasons=())
    write_receipts(tmp_path / "r.json", [r])
    (back,) = load_receipts(tmp_path / "r.json")
    assert back.items == {"cola-330": 2} and back.lines == r.lines and back.exit_t == 95.0


def test_optional_xy_keys_round_trip_and_foreign_values_are_ignored(tmp_path):
    line = ReceiptLine(40.2, "K3-2-1", "cola-330", 1, 0.998, xy=(1.25, 3.5))
    r = Receipt(shopper="A17", items={"cola-330": 1}, review=False, confidence=0.99, exit_t=None,
                decided_t=50.0, lines=(line,), reasons=())
    write_receipts(tmp_path / "r.json", [r])
    assert json.loads((tmp_path / "r.json").read_text())["receipts"][0]["lines"][0]["xy"] == [1.25, 3.5]
    (back,) = load_receipts(tmp_path / "r.json")
    assert back.lines[0].xy == (1.25, 3.5)
    # another system may use "xy" for something else: not ours, not an error
    obj = json.loads((tmp_path / "r.json").read_text())
    obj["receipts"][0]["lines"][0]["xy"] = "shelf 3"
    (tmp_path / "r.json").write_text(json.dumps(obj))
    assert load_receipts(tmp_path / "r.json")[0].lines[0].xy is None

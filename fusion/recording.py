"""Read and write store recordings (``shared/spec/recording-format.md``).

Reading is streaming: weights come in chunks of :data:`fusion.types.WEIGHT_DTYPE`
rows and vision frames one at a time, so memory does not grow with the length
of a recording. :meth:`Recording.stream` merges weights, vision and gate taps
in time order, which is what the online engine consumes.

Every malformed input raises :class:`fusion.errors.RecordingError` naming the
file, the 1-based line and the field. Unknown columns and keys are ignored; an
empty ``grams`` field is a gap (NaN), never zero.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from fusion.errors import RecordingError, StoreConfigError
from fusion.store import dump_store, load_store
from fusion.types import (
    WEIGHT_DTYPE,
    GateTap,
    Hand,
    PersonDetection,
    Receipt,
    ReceiptLine,
    Store,
    Truth,
    TruthEvent,
    TruthShopper,
    VisionFrame,
    frozen_map,
    readonly,
)

#: One item of the merged stream: a weight chunk, a camera frame or a gate tap.
StreamItem = np.ndarray | VisionFrame | GateTap


def _open_text(path: Path, raw_out: list | None = None) -> TextIO:
    """Open a plain or gzipped text file for reading (UTF-8, universal newlines).

    ``raw_out``, if given, receives the underlying binary file (for progress).
    """
    try:
        stream = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
        if raw_out is not None:  # the file object whose position is bytes on disk
            raw_out.append(stream.fileobj if path.suffix == ".gz" else stream)
        return io.TextIOWrapper(stream, encoding="utf-8", newline="")
    except OSError as e:
        raise RecordingError(str(path), 0, "", f"cannot open: {e.strerror or e}") from None


def _find(folder: Path, name: str, required: bool = True) -> Path | None:
    """``folder/name`` or ``folder/name.gz`` (the plain file wins if both exist)."""
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    if required:
        raise RecordingError(str(folder / name), 0, "",
                             f"missing: a recording needs {name} (or {name}.gz) in {folder}")
    return None


def _finite(path: Path, line: int, field: str, text: str) -> float:
    try:
        val = float(text)
    except ValueError:
        raise RecordingError(str(path), line, field, f"{text!r} is not a number") from None
    if not math.isfinite(val):
        raise RecordingError(str(path), line, field, f"{text!r} is not a finite number")
    return val


class _CsvRows:
    """A CSV file with a header naming the columns it must have."""

    def __init__(self, path: Path, required: Sequence[str]):
        self.path = path
        self._raw: list = []
        self.file = _open_text(path, self._raw)
        self.size = max(1, path.stat().st_size)
        self.reader = csv.reader(self.file)
        try:
            header = next(self.reader, None)
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as e:
            self.close()
            raise RecordingError(str(path), 1, "", f"unreadable header: {e}") from None
        if header is None:
            self.close()
            raise RecordingError(str(path), 1, "", f"empty file: expected a header {','.join(required)}")
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            self.close()
            raise RecordingError(str(path), 1, missing[0],
                                 f"header {','.join(header)!r} lacks column(s) {', '.join(missing)}")
        self.col = {c: header.index(c) for c in header[::-1]}  # first occurrence wins
        self.width = len(header)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Yield (line number, fields) for every non-blank row."""
        try:
            for row in self.reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                yield self.reader.line_num, row
        except csv.Error as e:
            raise RecordingError(str(self.path), self.reader.line_num, "", f"bad CSV: {e}") from None
        except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile) as e:
            raise RecordingError(str(self.path), self.reader.line_num + 1, "",
                                 f"unreadable: {e}") from None

    def fraction(self) -> float:
        """Share of the file's bytes read so far, 0..1."""
        try:
            return min(1.0, self._raw[0].tell() / self.size)
        except (ValueError, OSError):
            return 1.0

    def close(self) -> None:
        self.file.close()


class Recording:
    """A recording folder, opened for streaming.

    Args:
        folder: the recording folder.

    Raises:
        RecordingError: a required file is missing.
        StoreConfigError: ``store.toml`` is invalid.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise RecordingError(str(self.folder), 0, "", "not a folder: give a recording folder")
        self.store_path = _find(self.folder, "store.toml")
        self.weights_path = _find(self.folder, "weights.csv")
        self.vision_path = _find(self.folder, "vision.jsonl")
        self.gates_path = _find(self.folder, "gates.csv")
        self.truth_path = _find(self.folder, "truth.json", required=False)
        self.store: Store = load_store(self.store_path)
        self._cell_index = self.store.cell_index()
        self._weights_src: _CsvRows | None = None

    def progress(self) -> float:
        """Share of ``weights.csv`` read by the running :meth:`iter_weights`, 0..1."""
        return self._weights_src.fraction() if self._weights_src is not None else 0.0

    # ----------------------------------------------------------- weights
    def iter_weights(self, chunk_rows: int = 16384) -> Iterator[np.ndarray]:
        """Yield chunks of weight samples (:data:`WEIGHT_DTYPE`, at most ``chunk_rows`` each).

        Raises:
            RecordingError: bad header, number, unknown cell or time going backwards.
        """
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        src = _CsvRows(self.weights_path, ("t", "cell", "grams"))
        self._weights_src = src
        it, ic, ig = src.col["t"], src.col["cell"], src.col["grams"]
        need = max(it, ic, ig) + 1
        last_t = 0.0
        try:
            buf: list[tuple[int, list[str]]] = []
            for item in src.rows():
                buf.append(item)
                if len(buf) >= chunk_rows:
                    chunk = self._weights_chunk(buf, it, ic, ig, need, last_t)
                    last_t = float(chunk["t"][-1])
                    buf = []
                    yield chunk
            if buf:
                yield self._weights_chunk(buf, it, ic, ig, need, last_t)
        finally:
            src.close()

    def _weights_chunk(self, buf, it, ic, ig, need, last_t) -> np.ndarray:
        """Convert buffered rows; fast path with numpy, careful path on any doubt."""
        out = np.empty(len(buf), dtype=WEIGHT_DTYPE)
        out["flags"] = 0
        try:
            out["t"] = [row[it] for _, row in buf]
            out["cell"] = [self._cell_index[row[ic]] for _, row in buf]
            out["grams"] = [row[ig] or "nan" for _, row in buf]
        except (ValueError, KeyError, IndexError):
            return self._weights_careful(buf, it, ic, ig, need, last_t)
        t = out["t"]
        if (not np.isfinite(t).all() or t[0] < last_t or (t < 0).any()
                or (t[1:] < t[:-1]).any() or np.isinf(out["grams"]).any()):
            return self._weights_careful(buf, it, ic, ig, need, last_t)
        return out

    def _weights_careful(self, buf, it, ic, ig, need, last_t: float) -> np.ndarray:
        """Row-by-row conversion that raises on the first bad row with its line and field."""
        p = self.weights_path
        out = np.empty(len(buf), dtype=WEIGHT_DTYPE)
        out["flags"] = 0
        for k, (line, row) in enumerate(buf):
            if len(row) < need:
                raise RecordingError(str(p), line, "", f"{len(row)} fields, expected at least {need}")
            t = _finite(p, line, "t", row[it].strip())
            if t < 0:
                raise RecordingError(str(p), line, "t", f"{t} is negative; recordings start at or after 0")
            if t < last_t:
                raise RecordingError(str(p), line, "t", f"time goes backwards ({t} after {last_t})")
            last_t = t
            cell = self._cell_index.get(row[ic].strip())
            if cell is None:
                raise RecordingError(str(p), line, "cell",
                                     f"unknown cell {row[ic]!r}: not a [[cell]] id in store.toml")
            g = row[ig].strip()
            out[k] = (t, cell, np.nan if not g or g.lower() == "nan" else _finite(p, line, "grams", g), 0)
        return out

    # ------------------------------------------------------------ vision
    def iter_vision(self) -> Iterator[VisionFrame]:
        """Yield camera frames in file order (time non-decreasing).

        Raises:
            RecordingError: broken JSON, a bad field, or time going backwards.
        """
        p = self.vision_path
        f = _open_text(p)
        last_t = 0.0
        line = 0
        try:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                frame = parse_vision_line(text, str(p), line)
                if frame.t < last_t:
                    raise RecordingError(str(p), line, "t", f"time goes backwards ({frame.t} after {last_t})")
                last_t = frame.t
                yield frame
        except (UnicodeDecodeError, OSError, EOFError) as e:
            raise RecordingError(str(p), line + 1, "", f"unreadable: {e}") from None
        finally:
            f.close()

    # ------------------------------------------------------------- gates
    def read_taps(self) -> list[GateTap]:
        """All entry taps, sorted by time (``gates.csv`` is small).

        Raises:
            RecordingError: bad number, unknown gate, empty shopper, party < 1.
        """
        p = self.gates_path
        src = _CsvRows(p, ("t", "gate", "shopper"))
        gate_ids = {g.id for g in self.store.gates}
        ip = src.col.get("party")
        taps = []
        try:
            for line, row in src.rows():
                if len(row) < src.width and len(row) <= max(src.col["t"], src.col["gate"], src.col["shopper"]):
                    raise RecordingError(str(p), line, "", f"{len(row)} fields, header has {src.width}")
                t = _finite(p, line, "t", row[src.col["t"]].strip())
                if t < 0:
                    raise RecordingError(str(p), line, "t", f"{t} is negative")
                gate = row[src.col["gate"]].strip()
                if gate not in gate_ids:
                    raise RecordingError(str(p), line, "gate", f"unknown gate {gate!r}: not a [[gate]] id in store.toml")
                shopper = row[src.col["shopper"]].strip()
                if not shopper:
                    raise RecordingError(str(p), line, "shopper", "empty account id")
                party = 1
                if ip is not None and ip < len(row) and row[ip].strip():
                    try:
                        party = int(row[ip])
                    except ValueError:
                        raise RecordingError(str(p), line, "party", f"{row[ip]!r} is not a whole number") from None
                    if party < 1:
                        raise RecordingError(str(p), line, "party", f"{party} people: must be >= 1")
                taps.append(GateTap(t=t, gate=gate, shopper=shopper, party=party))
        finally:
            src.close()
        taps.sort(key=lambda tap: tap.t)
        return taps

    # ------------------------------------------------------------- truth
    def read_truth(self) -> Truth | None:
        """The ground truth, or ``None`` when the recording has none."""
        return None if self.truth_path is None else load_truth(self.truth_path)

    # ------------------------------------------------------------ merged
    def stream(self, chunk_rows: int = 4096) -> Iterator[StreamItem]:
        """Weights, vision frames and taps merged in time order.

        Weight chunks are split so that every row of a yielded chunk has
        ``t`` <= the next frame/tap; at equal times weights come first, then
        taps, then frames.
        """
        others = heapq.merge(((tap.t, 0, i, tap) for i, tap in enumerate(self.read_taps())),
                             ((fr.t, 1, i, fr) for i, fr in enumerate(self.iter_vision())))
        nxt = next(others, None)
        for chunk in self.iter_weights(chunk_rows):
            while len(chunk):
                if nxt is None:
                    yield chunk
                    break
                k = int(np.searchsorted(chunk["t"], nxt[0], side="right"))
                if k:
                    yield chunk[:k]
                    chunk = chunk[k:]
                if len(chunk):
                    while nxt is not None and nxt[0] < chunk["t"][0]:
                        yield nxt[3]
                        nxt = next(others, None)
        while nxt is not None:
            yield nxt[3]
            nxt = next(others, None)


def open_recording(folder: str | Path) -> Recording:
    """Open a recording folder (see :class:`Recording`)."""
    return Recording(folder)


# --------------------------------------------------------------- vision line


def _num(v: Any, path: str, line: int, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise RecordingError(path, line, field, f"must be a finite number, got {v!r}")
    return float(v)


def _vec(v: Any, n: int, path: str, line: int, field: str) -> np.ndarray:
    if not isinstance(v, list) or len(v) != n:
        raise RecordingError(path, line, field, f"must be a list of {n} numbers (m), got {v!r}")
    return readonly([_num(x, path, line, field) for x in v])


def _holding(v: Any, path: str, line: int, field: str) -> Mapping[str, float]:
    if not isinstance(v, dict):
        raise RecordingError(path, line, field, f"must be an object SKU -> probability, got {v!r}")
    out = {}
    for sku, prob in v.items():
        out[str(sku)] = _num(prob, path, line, f"{field}.{sku}")
    return frozen_map(out)


def parse_vision_line(text: str, path: str = "vision.jsonl", line: int = 0) -> VisionFrame:
    """Parse one line of ``vision.jsonl`` (see the spec)."""
    try:
        obj = json.loads(text, parse_constant=lambda c: float("nan"))
    except json.JSONDecodeError as e:
        raise RecordingError(path, line, "", f"broken JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(obj, dict):
        raise RecordingError(path, line, "", f"expected a JSON object, got {type(obj).__name__}")
    t = _num(obj.get("t"), path, line, "t")
    if t < 0:
        raise RecordingError(path, line, "t", f"{t} is negative; recordings start at or after 0")
    camera = obj.get("camera", "")
    if not isinstance(camera, str | int):
        raise RecordingError(path, line, "camera", f"must be a string, got {camera!r}")
    people_raw = obj.get("people", [])
    if not isinstance(people_raw, list):
        raise RecordingError(path, line, "people", f"must be a list, got {type(people_raw).__name__}")
    people = []
    for i, p in enumerate(people_raw):
        f = f"people[{i}]"
        if not isinstance(p, dict):
            raise RecordingError(path, line, f, "must be an object")
        xy = _vec(p.get("xy"), 2, path, line, f + ".xy")
        conf = _num(p.get("conf", 1.0), path, line, f + ".conf")
        hands_raw = p.get("hands") or []
        if not isinstance(hands_raw, list):
            raise RecordingError(path, line, f + ".hands", "must be a list")
        hands = []
        for j, h in enumerate(hands_raw):
            hf = f"{f}.hands[{j}]"
            if not isinstance(h, dict):
                raise RecordingError(path, line, hf, "must be an object")
            hp = _vec(h.get("p"), 3, path, line, hf + ".p")
            hold = _holding(h["holding"], path, line, hf + ".holding") if h.get("holding") else frozen_map(None)
            hands.append(Hand(p=hp, holding=hold))
        track = p.get("track")
        people.append(PersonDetection(xy=xy, conf=conf, hands=tuple(hands),
                                      track=None if track is None else str(track)))
    return VisionFrame(t=t, camera=str(camera), people=tuple(people))


# --------------------------------------------------------------------- truth


def _json_file(path: Path) -> Any:
    try:
        f = _open_text(Path(path))
        with f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise RecordingError(str(path), e.lineno, "", f"broken JSON: {e.msg} at column {e.colno}") from None
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise RecordingError(str(path), 0, "", f"unreadable: {e}") from None


def _counts(v: Any, path: str, field: str) -> dict[str, int]:
    if not isinstance(v, dict):
        raise RecordingError(path, 0, field, "must be an object SKU -> count")
    out = {}
    for sku, n in v.items():
        if isinstance(n, bool) or not isinstance(n, int | float) or n != int(n):
            raise RecordingError(path, 0, f"{field}.{sku}", f"must be a whole number, got {n!r}")
        if int(n):
            out[str(sku)] = int(n)
    return out


def load_truth(path: str | Path) -> Truth:
    """Read ``truth.json``."""
    p = str(path)
    obj = _json_file(Path(path))
    if not isinstance(obj, dict):
        raise RecordingError(p, 0, "", "expected a JSON object")
    shoppers_raw = obj.get("shoppers", {})
    if not isinstance(shoppers_raw, dict):
        raise RecordingError(p, 0, "shoppers", "must be an object keyed by account")
    shoppers = {}
    for sid, s in shoppers_raw.items():
        f = f"shoppers.{sid}"
        if not isinstance(s, dict):
            raise RecordingError(p, 0, f, "must be an object")
        enter = _num(s.get("enter_t", 0.0), p, 0, f + ".enter_t")
        exit_t = None if s.get("exit_t") is None else _num(s["exit_t"], p, 0, f + ".exit_t")
        items = {k: n for k, n in _counts(s.get("items", {}), p, f + ".items").items() if n > 0}
        shoppers[sid] = TruthShopper(id=sid, enter_t=enter, exit_t=exit_t, items=frozen_map(items))
    events_raw = obj.get("events", [])
    if not isinstance(events_raw, list):
        raise RecordingError(p, 0, "events", "must be a list")
    events = []
    for i, e in enumerate(events_raw):
        f = f"events[{i}]"
        if not isinstance(e, dict):
            raise RecordingError(p, 0, f, "must be an object")
        qty = e.get("qty")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty == 0:
            raise RecordingError(p, 0, f + ".qty", f"must be a non-zero whole number, got {qty!r}")
        events.append(TruthEvent(t=_num(e.get("t"), p, 0, f + ".t"), shopper=str(e.get("shopper")),
                                 cell=str(e.get("cell")), sku=str(e.get("sku")), qty=qty,
                                 xy=_optional_xy(e.get("xy"))))
    return Truth(shoppers=frozen_map(shoppers), events=tuple(events))


def truth_to_json(truth: Truth) -> dict:
    """The ``truth.json`` object of ``truth``."""
    return {"format": 1,
            "shoppers": {s.id: {"enter_t": round(s.enter_t, 4),
                                "exit_t": None if s.exit_t is None else round(s.exit_t, 4),
                                "items": dict(s.items)} for s in truth.shoppers.values()},
            "events": [{"t": round(e.t, 4), "shopper": e.shopper, "cell": e.cell,
                        "sku": e.sku, "qty": e.qty, **_xy_key(e.xy)} for e in truth.events]}


def _xy_key(xy: tuple[float, float] | None) -> dict:
    """``{"xy": [x, y]}`` (m, rounded to mm) or nothing: an optional extra key."""
    return {} if xy is None else {"xy": [round(float(xy[0]), 3), round(float(xy[1]), 3)]}


def _optional_xy(v) -> tuple[float, float] | None:
    """Our optional ``xy`` extra key; anything but two finite numbers is ignored
    (other generators may use the name differently: unknown keys are not errors)."""
    if (isinstance(v, list) and len(v) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
        return float(v[0]), float(v[1])
    return None


# ----------------------------------------------------------------- receipts


def receipts_to_json(receipts: Sequence[Receipt]) -> dict:
    """The ``receipts.json`` object (spec: format 1)."""
    return {"format": 1, "receipts": [{
        "shopper": r.shopper, "items": dict(sorted(r.items.items())), "review": r.review,
        "confidence": round(r.confidence, 6),
        "exit_t": None if r.exit_t is None else round(r.exit_t, 4),
        "decided_t": round(r.decided_t, 4),
        "lines": [{"t": round(ln.t, 4), "cell": ln.cell, "sku": ln.sku, "qty": ln.qty,
                   "confidence": round(ln.confidence, 6), **_xy_key(ln.xy)} for ln in r.lines],
        "reasons": list(r.reasons)} for r in receipts]}


def write_receipts(path: str | Path, receipts: Sequence[Receipt]) -> None:
    """Write ``receipts.json``."""
    Path(path).write_text(json.dumps(receipts_to_json(receipts), indent=1) + "\n", encoding="utf-8")


def load_receipts(path: str | Path) -> list[Receipt]:
    """Read a ``receipts.json`` (ours or another system's)."""
    p = str(path)
    obj = _json_file(Path(path))
    if not isinstance(obj, dict) or not isinstance(obj.get("receipts"), list):
        raise RecordingError(p, 0, "receipts", "expected an object with a 'receipts' list")
    out = []
    for i, r in enumerate(obj["receipts"]):
        f = f"receipts[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("shopper"), str):
            raise RecordingError(p, 0, f + ".shopper", "each receipt needs a 'shopper' string")
        lines = []
        for j, ln in enumerate(r.get("lines") or []):
            lf = f"{f}.lines[{j}]"
            if not isinstance(ln, dict):
                raise RecordingError(p, 0, lf, "must be an object")
            lines.append(ReceiptLine(t=_num(ln.get("t", 0.0), p, 0, lf + ".t"), cell=str(ln.get("cell", "")),
                                     sku=str(ln.get("sku", "")), qty=int(ln.get("qty", 0)),
                                     confidence=_num(ln.get("confidence", 1.0), p, 0, lf + ".confidence"),
                                     xy=_optional_xy(ln.get("xy"))))
        exit_t = r.get("exit_t")
        out.append(Receipt(
            shopper=r["shopper"],
            items=frozen_map({k: n for k, n in _counts(r.get("items", {}), p, f + ".items").items() if n > 0}),
            review=bool(r.get("review", False)),
            confidence=_num(r.get("confidence", 1.0), p, 0, f + ".confidence"),
            exit_t=None if exit_t is None else _num(exit_t, p, 0, f + ".exit_t"),
            decided_t=_num(r.get("decided_t", 0.0), p, 0, f + ".decided_t"),
            lines=tuple(lines), reasons=tuple(str(x) for x in r.get("reasons") or [])))
    return out


# -------------------------------------------------------------------- writing


class RecordingWriter:
    """Write a recording folder, streaming.

    Args:
        out_dir: the folder (created if missing).
        store: the layout; written to ``store.toml`` at once.
        gzip: write ``weights.csv.gz`` and ``vision.jsonl.gz``.

    Weights and frames must be written in non-decreasing time order.
    """

    def __init__(self, out_dir: str | Path, store: Store, *, gzip: bool = False):
        self.folder = Path(out_dir)
        self.store = store
        self.gzip = gzip
        self._cell_ids = [c.id for c in store.cells]
        self._files: dict[str, TextIO] = {}
        self._truth: Truth | None = None
        self._last_w = self._last_v = 0.0

    def __enter__(self) -> RecordingWriter:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Create the folder and files; write ``store.toml`` and the headers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in ("weights.csv", "weights.csv.gz", "vision.jsonl", "vision.jsonl.gz", "truth.json"):
            (self.folder / stale).unlink(missing_ok=True)
        dump_store(self.store, self.folder / "store.toml")
        sfx = ".gz" if self.gzip else ""
        for key, name in (("w", "weights.csv" + sfx), ("v", "vision.jsonl" + sfx), ("g", "gates.csv")):
            path = self.folder / name
            self._files[key] = (io.TextIOWrapper(gzip.open(path, "wb", compresslevel=4), encoding="utf-8")
                                if name.endswith(".gz") else open(path, "w", encoding="utf-8"))
        self._files["w"].write("t,cell,grams\n")
        self._files["g"].write("t,gate,shopper,party\n")

    def write_weights(self, samples: np.ndarray) -> None:
        """Append weight rows (:data:`WEIGHT_DTYPE`); NaN grams are written as an empty field."""
        if samples.dtype != WEIGHT_DTYPE:
            raise ValueError(f"samples must have dtype WEIGHT_DTYPE, got {samples.dtype}")
        if not len(samples):
            return
        t = samples["t"]
        if t[0] < self._last_w or np.any(np.diff(t) < 0):
            raise ValueError("weight samples must be written in non-decreasing time order")
        self._last_w = float(t[-1])
        ids = np.asarray(self._cell_ids, dtype=object)[samples["cell"]]
        flat = np.empty(3 * len(samples), dtype=object)
        flat[0::3] = t.tolist()
        flat[1::3] = ids
        flat[2::3] = samples["grams"].astype(np.float64).tolist()
        text = ("%.4f,%s,%.2f\n" * len(samples)) % tuple(flat)
        self._files["w"].write(text.replace(",nan\n", ",\n"))

    def write_vision(self, frame: VisionFrame) -> None:
        """Append one camera frame."""
        if frame.t < self._last_v:
            raise ValueError("vision frames must be written in non-decreasing time order")
        self._last_v = frame.t
        self._files["v"].write(json.dumps(vision_to_json(frame), separators=(",", ":")) + "\n")

    def write_tap(self, tap: GateTap) -> None:
        """Append one entry tap."""
        self._files["g"].write(f"{tap.t:.4f},{tap.gate},{tap.shopper},{tap.party}\n")

    def write_truth(self, truth: Truth) -> None:
        """Set the ground truth (written on :meth:`close`)."""
        self._truth = truth

    def close(self) -> None:
        """Flush and close every file; safe to call twice."""
        for f in self._files.values():
            f.close()
        self._files = {}
        if self._truth is not None:
            (self.folder / "truth.json").write_text(json.dumps(truth_to_json(self._truth)) + "\n",
                                                    encoding="utf-8")
            self._truth = None


def vision_to_json(frame: VisionFrame) -> dict:
    """The ``vision.jsonl`` object of one frame."""
    people = []
    for p in frame.people:
        d: dict[str, Any] = {"xy": [round(float(v), 4) for v in p.xy], "conf": round(float(p.conf), 3)}
        if p.hands:
            hands = []
            for h in p.hands:
                hd: dict[str, Any] = {"p": [round(float(v), 4) for v in h.p]}
                if h.holding:
                    hd["holding"] = {k: round(float(v), 3) for k, v in h.holding.items()}
                hands.append(hd)
            d["hands"] = hands
        if p.track is not None:
            d["track"] = p.track
        people.append(d)
    return {"t": round(frame.t, 4), "camera": frame.camera, "people": people}


__all__ = ["Recording", "RecordingWriter", "StreamItem", "open_recording", "parse_vision_line",
           "load_truth", "truth_to_json", "write_receipts", "load_receipts", "receipts_to_json",
           "vision_to_json", "StoreConfigError"]

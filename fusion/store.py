"""Load, validate and write ``store.toml`` (see docs/store-config.md).

The file follows ``shared/spec/recording-format.md``: a ``format`` number,
``[[sku]]`` catalogue entries, ``[[cell]]`` plates with their front edge and
planogram, ``[[gate]]`` floor polygons and optional ``[[camera]]`` entries.
Unknown keys are ignored; unknown top-level tables (e.g. ``[[controller]]``)
are kept in :attr:`fusion.types.Store.extra` for the layers that use them.

Every problem raises :class:`fusion.errors.StoreConfigError` naming the file
and the key path, e.g. ``store.toml: cell[2] 'K3-2-1'.skus: unknown SKU
'cola-33' (not in any [[sku]] table)``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fusion.errors import StoreConfigError
from fusion.types import Camera, Cell, Gate, Sku, Store, frozen_map, readonly

FORMAT_VERSION = 1
SKU_ID_RE = re.compile(r"^[A-Za-z0-9._-]+$")
GATE_KINDS = ("entry", "exit", "both")
_KNOWN_TOP = {"format", "name", "sku", "cell", "gate", "camera"}


def load_store(path: str | Path) -> Store:
    """Read and validate a ``store.toml``.

    Args:
        path: the file.

    Returns:
        The validated :class:`Store`.

    Raises:
        StoreConfigError: the file is missing, is not TOML, or breaks the spec.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise StoreConfigError(str(path), "", f"cannot read: {e.strerror or e}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise StoreConfigError(str(path), "", f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise StoreConfigError(str(path), "", f"not valid TOML: {e}") from None
    return parse_store(data, source=str(path))


def parse_store(data: Mapping[str, Any], source: str = "store.toml") -> Store:
    """Validate an already-parsed ``store.toml`` mapping (see :func:`load_store`)."""
    v = _Validator(source)
    fmt = data.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        v.fail("format", f"unsupported format {fmt!r}; this reader understands format = 1")
    name = data.get("name", "")
    if not isinstance(name, str):
        v.fail("name", f"must be a string, got {name!r}")

    skus: dict[str, Sku] = {}
    for i, t in enumerate(v.tables(data, "sku")):
        sku = _parse_sku(v, f"sku[{i}]", t)
        if sku.id in skus:
            v.fail(f"sku[{i}].id", f"duplicate SKU id {sku.id!r}")
        skus[sku.id] = sku

    cells: list[Cell] = []
    seen: set[str] = set()
    for i, t in enumerate(v.tables(data, "cell")):
        cell = _parse_cell(v, f"cell[{i}]", t, skus)
        if cell.id in seen:
            v.fail(f"cell[{i}].id", f"duplicate cell id {cell.id!r}")
        seen.add(cell.id)
        cells.append(cell)
    if not cells:
        v.fail("cell", "no [[cell]] table: a store needs at least one weighed plate")
    if len(cells) > 65535:
        v.fail("cell", f"{len(cells)} cells; at most 65535 are supported")

    gates: list[Gate] = []
    for i, t in enumerate(v.tables(data, "gate")):
        gate = _parse_gate(v, f"gate[{i}]", t)
        if any(g.id == gate.id for g in gates):
            v.fail(f"gate[{i}].id", f"duplicate gate id {gate.id!r}")
        gates.append(gate)
    if not any(g.is_entry for g in gates):
        v.fail("gate", "no gate of kind 'entry' or 'both': shoppers could never enter")

    cameras: list[Camera] = []
    for i, t in enumerate(v.tables(data, "camera")):
        cid = v.ident(f"camera[{i}].id", t.get("id"))
        if any(c.id == cid for c in cameras):
            v.fail(f"camera[{i}].id", f"duplicate camera id {cid!r}")
        cameras.append(Camera(cid))

    extra = {k: val for k, val in data.items() if k not in _KNOWN_TOP}
    return Store(name=name, skus=frozen_map(skus), cells=tuple(cells), gates=tuple(gates),
                 cameras=tuple(cameras), source=source, extra=frozen_map(extra))


class _Validator:
    """Helpers that raise :class:`StoreConfigError` with the key path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, reason: str):
        raise StoreConfigError(self.source, key, reason)

    def tables(self, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        val = data.get(key, [])
        if not isinstance(val, list) or not all(isinstance(t, dict) for t in val):
            self.fail(key, f"must be an array of tables ([[{key}]]), got {type(val).__name__}")
        return val

    def ident(self, key: str, val: Any, pattern: re.Pattern | None = None) -> str:
        if val is None:
            self.fail(key, "missing (required)")
        if not isinstance(val, str) or not val.strip():
            self.fail(key, f"must be a non-empty string, got {val!r}")
        if pattern is not None and not pattern.match(val):
            self.fail(key, f"{val!r} has characters outside [A-Za-z0-9._-]")
        return val

    def number(self, key: str, val: Any, *, minimum: float | None = None,
               strict: bool = False, required: bool = True) -> float | None:
        if val is None:
            if required:
                self.fail(key, "missing (required)")
            return None
        if isinstance(val, bool) or not isinstance(val, int | float) or not math.isfinite(val):
            self.fail(key, f"must be a finite number, got {val!r}")
        if minimum is not None and (val <= minimum if strict else val < minimum):
            self.fail(key, f"must be {'>' if strict else '>='} {minimum:g}, got {val!r}")
        return float(val)

    def points(self, key: str, val: Any, dim: int, min_count: int,
               max_count: int | None = None) -> list[list[float]]:
        count = f"{min_count}" if max_count == min_count else f"at least {min_count}"
        if not isinstance(val, list) or len(val) < min_count or (
                max_count is not None and len(val) > max_count):
            self.fail(key, f"must be a list of {count} points of {dim} numbers (m), got {val!r}")
        for j, p in enumerate(val):
            if not isinstance(p, list) or len(p) != dim:
                self.fail(f"{key}[{j}]", f"must be [{', '.join('xyz'[:dim])}] ({dim} numbers, m), got {p!r}")
            for c in p:
                self.number(f"{key}[{j}]", c)
        return val


def _parse_sku(v: _Validator, key: str, t: Mapping[str, Any]) -> Sku:
    sid = v.ident(f"{key}.id", t.get("id"), SKU_ID_RE)
    key = f"{key} {sid!r}"
    name = t.get("name", sid)
    if not isinstance(name, str):
        v.fail(f"{key}.name", f"must be a string, got {name!r}")
    weight = v.number(f"{key}.weight_g", t.get("weight_g"), minimum=0, strict=True)
    sd = v.number(f"{key}.weight_sd_g", t.get("weight_sd_g", 0.0), minimum=0)
    price = v.number(f"{key}.price", t.get("price"), minimum=0, required=False)
    return Sku(id=sid, name=name, weight_g=weight, weight_sd_g=sd, price=price)


def _parse_cell(v: _Validator, key: str, t: Mapping[str, Any], skus: Mapping[str, Sku]) -> Cell:
    cid = v.ident(f"{key}.id", t.get("id"))
    key = f"{key} {cid!r}"
    front = v.points(f"{key}.front", t.get("front"), dim=3, min_count=2, max_count=2)
    if front[0] == front[1]:
        v.fail(f"{key}.front", "the two ends of the front edge are the same point")
    stocked = t.get("skus")
    if not isinstance(stocked, list) or not stocked or not all(isinstance(s, str) for s in stocked):
        v.fail(f"{key}.skus", f"must be a non-empty list of SKU ids, got {stocked!r}")
    for s in stocked:
        if s not in skus:
            v.fail(f"{key}.skus", f"unknown SKU {s!r} (not in any [[sku]] table)")
    if len(set(stocked)) != len(stocked):
        v.fail(f"{key}.skus", f"lists a SKU twice: {stocked!r}")
    hz = v.number(f"{key}.sample_hz", t.get("sample_hz"), minimum=0, strict=True, required=False)
    noise = v.number(f"{key}.noise_g", t.get("noise_g"), minimum=0, required=False)
    return Cell(id=cid, front=readonly(front, shape=(2, 3)), skus=tuple(stocked),
                sample_hz=hz, noise_g=noise)


def _parse_gate(v: _Validator, key: str, t: Mapping[str, Any]) -> Gate:
    gid = v.ident(f"{key}.id", t.get("id"))
    key = f"{key} {gid!r}"
    zone = v.points(f"{key}.zone", t.get("zone"), dim=2, min_count=3)
    kind = t.get("kind", "both")
    if kind not in GATE_KINDS:
        v.fail(f"{key}.kind", f"must be one of {', '.join(GATE_KINDS)}; got {kind!r}")
    area = _polygon_area(zone)
    if area <= 1e-9:
        v.fail(f"{key}.zone", "polygon has no area (points collinear or repeated)")
    return Gate(id=gid, zone=readonly(zone, shape=(None, 2)), kind=kind)


def _polygon_area(pts: list[list[float]]) -> float:
    s = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
        s += x0 * y1 - x1 * y0
    return abs(s) / 2


# ------------------------------------------------------------------ writing


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(round(v, 6))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if hasattr(v, "tolist"):
        return _toml_value(v.tolist())
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def store_to_toml(store: Store) -> str:
    """Serialise a store as ``store.toml`` text (round-trips through :func:`load_store`)."""
    out = [f"format = {FORMAT_VERSION}", f"name = {_toml_value(store.name)}", ""]
    for s in store.skus.values():
        out += ["[[sku]]", f"id = {_toml_value(s.id)}", f"name = {_toml_value(s.name)}",
                f"weight_g = {_toml_value(float(s.weight_g))}",
                f"weight_sd_g = {_toml_value(float(s.weight_sd_g))}"]
        if s.price is not None:
            out.append(f"price = {_toml_value(float(s.price))}")
        out.append("")
    for c in store.cells:
        out += ["[[cell]]", f"id = {_toml_value(c.id)}", f"front = {_toml_value(c.front)}",
                f"skus = {_toml_value(list(c.skus))}"]
        if c.sample_hz is not None:
            out.append(f"sample_hz = {_toml_value(float(c.sample_hz))}")
        if c.noise_g is not None:
            out.append(f"noise_g = {_toml_value(float(c.noise_g))}")
        out.append("")
    for g in store.gates:
        out += ["[[gate]]", f"id = {_toml_value(g.id)}", f"zone = {_toml_value(g.zone)}",
                f"kind = {_toml_value(g.kind)}", ""]
    for cam in store.cameras:
        out += ["[[camera]]", f"id = {_toml_value(cam.id)}", ""]
    return "\n".join(out)


def dump_store(store: Store, path: str | Path) -> None:
    """Write ``store`` to ``path`` as TOML."""
    Path(path).write_text(store_to_toml(store), encoding="utf-8")

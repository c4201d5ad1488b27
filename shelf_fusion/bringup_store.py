"""Write calibration results into the ``[[controller]]`` tables of ``store.toml``.

Used by ``shelf-fusion calibrate --write-store`` for controllers that cannot
keep a span calibration themselves (serial HX711 boards calibrated in software,
MT-SICS balances at level 0/1, Modbus profiles without a span command). The
file is rewritten from its parsed content (comments are not kept); the previous
version is saved next to it as ``store.toml.bak``.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fusion.errors import StoreConfigError
from fusion.store import _toml_value, load_store, store_to_toml


def _value(v: Any) -> str:
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_value(str(k))} = {_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return _toml_value(v)


def tables_to_toml(name: str, tables: list[Mapping[str, Any]]) -> str:
    """``[[name]]`` tables as TOML text (values: scalars, lists, inline tables)."""
    out = []
    for t in tables:
        out.append(f"[[{name}]]")
        out += [f"{k} = {_value(v)}" for k, v in t.items()]
        out.append("")
    return "\n".join(out)


def _controller_of(path: Path, raw: dict, cell_id: str, url: str | None) -> dict:
    ctrls = raw.get("controller", [])
    for t in ctrls:
        cells = t.get("cells") or list(t.get("channels", {}).values())
        if cell_id in cells and (url is None or t.get("url") == url):
            return t
    raise StoreConfigError(str(path), "controller",
                           f"no [[controller]] reads cell {cell_id!r}"
                           + (f" at {url}" if url else "") + "; add one (see docs/bring-up.md)")


def write_cell_calibration(path: str | Path, cell_id: str, *, scale: float, zero_g: float,
                           url: str | None = None) -> None:
    """Set ``scale`` and ``zero_g`` of ``cell_id`` in the controller table reading it.

    Args:
        path: the ``store.toml``.
        cell_id: a ``[[cell]]`` id read by one ``[[controller]]``.
        scale: gain (dimensionless): store grams = (reading - zero_g) * scale.
        zero_g: reading of the empty plate (g).
        url: only consider the controller with this URL.

    Raises:
        StoreConfigError: the file is invalid or no controller reads the cell.
    """
    path = Path(path)
    store = load_store(path)  # validates, raises StoreConfigError naming the file
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    ctrl = _controller_of(path, raw, cell_id, url)
    ctrl.setdefault("scale", {})[cell_id] = round(float(scale), 7)
    ctrl.setdefault("zero_g", {})[cell_id] = round(float(zero_g), 3)
    text = store_to_toml(store) + "\n"
    for name, val in raw.items():
        if name in store.extra and isinstance(val, list) and all(isinstance(t, dict) for t in val):
            text += tables_to_toml(name, val)
    shutil.copyfile(path, path.with_name(path.name + ".bak"))
    path.write_text(text, encoding="utf-8")
    from shelf_fusion.bringup_config import load_controllers
    load_controllers(load_store(path))  # what we wrote must read back

"""``[[controller]]`` tables of ``store.toml``: which hardware reads which cells.

``store.toml`` may hold, besides the tables of the recording spec,
``[[controller]]`` tables describing the hardware (readers of recordings ignore
them; :func:`fusion.store.load_store` keeps them in ``Store.extra``)::

    [[controller]]
    url = "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0"
    profile = "mt-sics"
    cells = ["K3-2-1"]                 # cell id per channel, in channel order
    rate_hz = 10                       # poll rate (optional, default 10 Hz)
    # or: channels = {"0" = "K3-2-1", "2" = "K3-2-2"}   (unlisted channels are dropped)
    # written by `shelf-fusion calibrate --write-store` (optional):
    scale = {"K3-2-1" = 1.0021}        # grams = (reading - zero_g) * scale
    zero_g = {"K3-2-1" = 0.0}

:func:`load_controllers` validates them; errors are
:class:`fusion.errors.StoreConfigError` naming the file and ``controller[i].key``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from fusion.errors import StoreConfigError
from fusion.types import Store

DEFAULT_RATE_HZ = 10.0


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """One ``[[controller]]`` table.

    Attributes:
        url: driver URL (see :mod:`drivers.registry`).
        profile: protocol profile name or path.
        channel_cells: channel -> store cell index.
        rate_hz: poll rate (Hz).
        scale: channel -> gain applied after the driver (1 when absent).
        zero_g: channel -> offset subtracted before ``scale`` (g).
        index: position of the table in the file (0-based).
        source: the file it came from.
    """

    url: str
    profile: str
    channel_cells: Mapping[int, int]
    rate_hz: float = DEFAULT_RATE_HZ
    scale: Mapping[int, float] = field(default_factory=dict)
    zero_g: Mapping[int, float] = field(default_factory=dict)
    index: int = 0
    source: str = "store.toml"


def _fail(store: Store, key: str, reason: str):
    raise StoreConfigError(store.source or "store.toml", key, reason)


def _channel_map(store: Store, key: str, t: Mapping) -> dict[int, int]:
    idx = store.cell_index()
    if ("cells" in t) == ("channels" in t):
        _fail(store, key, "give exactly one of cells = [cell ids in channel order] or "
                          "channels = {\"0\" = cell id, ...}")
    if "cells" in t:
        if not isinstance(t["cells"], list) or not t["cells"]:
            _fail(store, f"{key}.cells", "must be a non-empty list of [[cell]] ids")
        pairs = list(enumerate(t["cells"]))
        sub = "cells"
    else:
        if not isinstance(t["channels"], dict) or not t["channels"]:
            _fail(store, f"{key}.channels", "must be a table {\"0\" = \"cell id\", ...}")
        pairs = []
        for ch, cell in t["channels"].items():
            if not str(ch).isdigit():
                _fail(store, f"{key}.channels", f"channel {ch!r} is not a whole number >= 0")
            pairs.append((int(ch), cell))
        sub = "channels"
    out: dict[int, int] = {}
    for ch, cell in pairs:
        if not isinstance(cell, str) or cell not in idx:
            _fail(store, f"{key}.{sub}", f"unknown cell {cell!r}: not a [[cell]] id")
        out[ch] = idx[cell]
    return out


def _per_cell(store: Store, key: str, t: Mapping, name: str, chmap: Mapping[int, int],
              default: float) -> dict[int, float]:
    val = t.get(name, {})
    if not isinstance(val, dict):
        _fail(store, f"{key}.{name}", "must be a table {\"cell id\" = number}")
    by_cell = {i: ch for ch, i in chmap.items()}
    idx = store.cell_index()
    out = {ch: default for ch in chmap}
    for cell, v in val.items():
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            _fail(store, f"{key}.{name}.{cell}", f"{v!r} is not a finite number")
        if cell not in idx or idx[cell] not in by_cell:
            _fail(store, f"{key}.{name}", f"cell {cell!r} is not read by this controller")
        out[by_cell[idx[cell]]] = float(v)
    return out


def load_controllers(store: Store) -> list[ControllerConfig]:
    """Validate the ``[[controller]]`` tables kept in ``store.extra``.

    Raises:
        StoreConfigError: naming the file and ``controller[i].key``.
    """
    raw = store.extra.get("controller", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        _fail(store, "controller", "must be [[controller]] tables")
    out = []
    for i, t in enumerate(raw):
        key = f"controller[{i}]"
        for name in ("url", "profile"):
            if not isinstance(t.get(name), str) or not t[name]:
                _fail(store, f"{key}.{name}", "missing or not a non-empty string")
        rate = t.get("rate_hz", DEFAULT_RATE_HZ)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1000:
            _fail(store, f"{key}.rate_hz", f"{rate!r}: must be a number of Hz in (0, 1000]")
        chmap = _channel_map(store, key, t)
        out.append(ControllerConfig(
            url=t["url"], profile=t["profile"], channel_cells=chmap, rate_hz=float(rate),
            scale=_per_cell(store, key, t, "scale", chmap, 1.0),
            zero_g=_per_cell(store, key, t, "zero_g", chmap, 0.0), index=i,
            source=store.source or "store.toml"))
    seen: dict[int, int] = {}
    for c in out:
        for cell in c.channel_cells.values():
            if cell in seen:
                _fail(store, f"controller[{c.index}]", f"cell {store.cells[cell].id!r} is "
                      f"already read by controller[{seen[cell]}]")
            seen[cell] = c.index
    return out

"""``shelf-fusion plot``: pictures of a recording and of what the engine decided.

Two kinds of plot, both written as PNG files:

* ``weights``: grams against time for chosen plates, with the engine's shelf
  events as shaded spans (annotated with the settled change and the decided
  items and account) and the true takes/returns from ``truth.json`` as markers.
* ``floor``: the store layout (plate front edges, gate zones) with the
  tracker's tracks over a time window, coloured by account, and the raw person
  detections as faint points.

matplotlib is an optional extra (``pip install "shelf-fusion[plot]"``); it is
imported only when a plot is drawn, with the non-interactive ``Agg`` backend.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fusion.errors import ShelfFusionError

#: Default length of the plotted window when ``--t1`` is not given (s).
DEFAULT_WINDOW_S = 60.0
#: Stream time fed to the engine after ``t1`` so events near the end are decided (s).
REPLAY_TAIL_S = 5.0
#: Plates plotted when none are chosen: the busiest ones in the window.
DEFAULT_N_CELLS = 3
_GAP_FACTOR = 5.0  # a pause longer than this many median sample spacings is a gap


class PlotDependencyError(ShelfFusionError):
    """matplotlib, needed for plotting, is not installed."""


class PlotInputError(ShelfFusionError):
    """A plot request names something the recording does not have (a cell id, a window)."""


def _pyplot():
    """Import matplotlib lazily with the Agg backend; returns ``matplotlib.pyplot``."""
    try:
        import matplotlib
    except ImportError:
        raise PlotDependencyError(
            'plotting needs matplotlib: pip install "shelf-fusion[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# ------------------------------------------------------------------ replay


def replay_until(recording, t1_s: float | None, history_s: float | None = None):
    """Replay a recording through the engine up to ``t1_s`` + :data:`REPLAY_TAIL_S`.

    Args:
        recording: a :class:`fusion.recording.Recording`.
        t1_s: stop feeding items after this stream time plus the tail (s);
            ``None`` replays everything.
        history_s: keep this much track history for ``tracker.window`` (s);
            ``None`` keeps the tracker default.

    Returns:
        The finished :class:`fusion.engine.Engine`.
    """
    from fusion.engine import Engine
    from fusion.tracking import ShopperTracker
    eng = Engine(recording.store)
    if history_s is not None and history_s > eng.tracker.config.history_s:
        cfg = dataclasses.replace(eng.tracker.config, history_s=history_s)
        eng.tracker = ShopperTracker(recording.store, cfg)
    stop_s = math.inf if t1_s is None else t1_s + REPLAY_TAIL_S
    for item in recording.stream():
        if isinstance(item, np.ndarray):
            t = float(item["t"][0]) if len(item) else -math.inf
        else:
            t = item.t
        if t > stop_s:
            break
        eng.feed(item)
    eng.finish()
    return eng


def read_weights(recording, cells: Sequence[int], t0_s: float, t1_s: float) -> dict[int, np.ndarray]:
    """Samples of ``cells`` with ``t0_s <= t <= t1_s``; missing stretches become NaN rows.

    Returns:
        cell index -> (N, 2) float array of (t s, grams g), with a NaN row
        inserted wherever the cell paused for longer than a few sample spacings.
    """
    want = np.asarray(sorted(set(cells)), dtype=np.uint16)
    parts: list[np.ndarray] = []
    for chunk in recording.iter_weights():
        if len(chunk) and chunk["t"][0] > t1_s:
            break
        keep = (chunk["t"] >= t0_s) & (chunk["t"] <= t1_s) & np.isin(chunk["cell"], want)
        parts.append(chunk[keep])
    rows = np.concatenate(parts) if parts else np.zeros(0, dtype=[("t", "f8"), ("cell", "u2"), ("grams", "f4")])
    return {int(c): _with_breaks(rows["t"][rows["cell"] == c], rows["grams"][rows["cell"] == c])
            for c in want}


def _with_breaks(t: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(N, 2) (t, grams) with NaN rows inserted in the middle of long pauses."""
    tg = np.column_stack([t, g.astype(np.float64)])
    if len(t) < 3:
        return tg
    dt = np.diff(t)
    gaps = np.flatnonzero(dt > _GAP_FACTOR * max(float(np.median(dt)), 1e-6))
    if not len(gaps):
        return tg
    fill = np.column_stack([t[gaps] + 0.5 * dt[gaps], np.full(len(gaps), np.nan)])
    return np.insert(tg, gaps + 1, fill, axis=0)


def _window(recording, t0_s: float | None, t1_s: float | None) -> tuple[float, float]:
    t0 = 0.0 if t0_s is None else float(t0_s)
    t1 = t0 + DEFAULT_WINDOW_S if t1_s is None else float(t1_s)
    if not (math.isfinite(t0) and math.isfinite(t1)) or t1 <= t0:
        raise PlotInputError(f"{recording.folder}: empty time window --t0 {t0:g} --t1 {t1:g}: "
                             "give --t1 greater than --t0 (seconds)")
    return t0, t1


def _cell_indices(recording, cell_ids: Sequence[str]) -> list[int]:
    index = recording.store.cell_index()
    unknown = [c for c in cell_ids if c not in index]
    if unknown:
        known = ", ".join(list(index)[:8]) + (", ..." if len(index) > 8 else "")
        raise PlotInputError(f"{recording.store_path}: unknown cell id(s) {', '.join(unknown)}; "
                             f"the store has {known}")
    return [index[c] for c in cell_ids]


def _busiest_cells(decisions, truth, store, t0: float, t1: float) -> list[int]:
    counts: dict[int, int] = {}
    for d in decisions:
        if d.event.t_end >= t0 and d.event.t_start <= t1:
            for c in d.event.cells:
                counts[c] = counts.get(c, 0) + 1
    if truth is not None:
        index = store.cell_index()
        for e in truth.events:
            if t0 <= e.t <= t1 and e.cell in index:
                counts[index[e.cell]] = counts.get(index[e.cell], 0) + 1
    ranked = sorted(counts, key=lambda c: (-counts[c], c))[:DEFAULT_N_CELLS]
    return sorted(ranked) or list(range(min(DEFAULT_N_CELLS, len(store.cells))))


# ----------------------------------------------------------------- weights


def plot_weights(folder: str | Path, cell_ids: Sequence[str] = (), t0_s: float | None = None,
                 t1_s: float | None = None, out: str | Path | None = None) -> Path:
    """Plot grams against time for some plates with the engine's decisions.

    Args:
        folder: the recording folder.
        cell_ids: plates to plot; empty picks the busiest in the window.
        t0_s: window start (s), default 0.
        t1_s: window end (s), default ``t0_s`` + :data:`DEFAULT_WINDOW_S`.
        out: PNG to write, default ``folder/plot-weights.png``.

    Returns:
        The path written.

    Raises:
        PlotInputError: unknown cell id or empty window.
        PlotDependencyError: matplotlib is missing.
        RecordingError, StoreConfigError: a bad recording.
    """
    from fusion.recording import Recording
    plt = _pyplot()
    rec = Recording(folder)
    t0, t1 = _window(rec, t0_s, t1_s)
    cells = _cell_indices(rec, cell_ids)
    truth = rec.read_truth()
    eng = replay_until(rec, t1)
    if not cells:
        cells = _busiest_cells(eng.decisions, truth, rec.store, t0, t1)
    series = read_weights(rec, cells, t0, t1)
    fig, axes = plt.subplots(len(cells), 1, sharex=True, squeeze=False,
                             figsize=(11, 1.0 + 3.2 * len(cells)))
    fig.subplots_adjust(top=1.0 - 0.8 / fig.get_figheight(), hspace=0.25)
    for ax, c in zip(axes[:, 0], cells, strict=True):
        _draw_cell(ax, rec.store, c, series[c], eng.decisions, truth, t0, t1)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 0].set_xlim(t0, t1)
    fig.suptitle(f"{rec.store.name}: plate weights and engine decisions, "
                 f"t = {t0:g}..{t1:g} s  ({rec.folder.name})", fontsize=11)
    _legend_weights(axes[-1, 0], truth is not None)
    return _save(fig, plt, Path(out) if out else rec.folder / "plot-weights.png")


def _draw_cell(ax, store, c: int, tg: np.ndarray, decisions, truth, t0: float, t1: float) -> None:
    cell = store.cells[c]
    ax.plot(tg[:, 0], tg[:, 1], lw=1.0, color="tab:blue")
    ax.set_ylabel("grams (g)")
    ax.set_title(f"plate {cell.id}  (stocks {', '.join(cell.skus)})", fontsize=9, loc="left")
    ax.grid(alpha=0.3)
    if not np.isfinite(tg[:, 1]).any():
        ax.text(0.5, 0.5, "no valid samples in this window", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
    top = _Stagger(t0, t1, _MAX_BOX_LEVELS)
    for d in sorted(decisions, key=lambda d: d.event.t_start):
        ev = d.event
        if c not in ev.cells or ev.t_end < t0 or ev.t_start > t1:
            continue
        color = "tab:orange" if d.account else "tab:red"
        ax.axvspan(ev.t_start, ev.t_end, fc=color, ec="tab:red", alpha=0.25, lw=0,
                   hatch=None if d.account else "///")
        delta = ev.delta_g[ev.cells.index(c)]
        what = ", ".join(f"{q:+d} {s}" for s, q in d.items) or "no item"
        text = f"{delta:+.0f} g\n{what}\n-> {d.account or 'nobody'} (p {d.p_items:.2f})"
        t_mid = 0.5 * (ev.t_start + ev.t_end)
        level = top.place(t_mid, text)
        if level is None:
            continue
        ax.annotate(text, xy=(t_mid, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(0, -3 - _BOX_PT * level), textcoords="offset points", ha="center",
                    va="top", fontsize=6.5, bbox={"boxstyle": "round,pad=0.2", "fc": "white",
                                                   "ec": color, "alpha": 0.85})
    bottom = _Stagger(t0, t1, _MAX_TRUTH_LEVELS)
    for e in truth.events if truth is not None else ():
        if e.cell == cell.id and t0 <= e.t <= t1:
            text = f"{e.qty:+d} {e.sku} {e.shopper}"
            level = bottom.place(e.t + 0.55 * bottom.width(text), text)
            ax.plot([e.t], [0.0], marker="^" if e.qty > 0 else "v", color="tab:green", ms=7,
                    transform=ax.get_xaxis_transform(), clip_on=False)
            if level is None:
                continue
            ax.annotate(text, xy=(e.t, 0.0), xycoords=("data", "axes fraction"),
                        xytext=(5, 2 + _TRUTH_PT * level), textcoords="offset points",
                        fontsize=6.5, color="darkgreen", va="bottom")
    _reserve(ax, tg[:, 1], top.levels, bottom.levels)
    if top.omitted or bottom.omitted:
        ax.set_title(f"{top.omitted + bottom.omitted} labels left out: narrow --t0/--t1 to see them",
                     fontsize=8, loc="right", color="0.4")


_BOX_PT = 30.0  # height of one level of event boxes (points)
_TRUTH_PT = 9.0  # height of one level of truth labels (points)
_AX_W_PT = 720.0
_MAX_BOX_LEVELS = 3
_MAX_TRUTH_LEVELS = 4  # approximate width of a weights axis (points)


class _Stagger:
    """Greedy levels so that neighbouring labels do not overlap."""

    def __init__(self, t0: float, t1: float, max_levels: int):
        self.s_per_pt = (t1 - t0) / _AX_W_PT
        self.max_levels = max_levels
        self.ends: list[float] = []
        self.omitted = 0

    def width(self, text: str) -> float:
        """Approximate width of ``text`` at 6.5 pt, in seconds of the x axis."""
        return (4.0 * max(len(line) for line in text.split("\n")) + 6.0) * self.s_per_pt

    def place(self, centre: float, text: str) -> int | None:
        """The lowest free level for ``text`` centred at ``centre`` (s); ``None`` if all are full."""
        half = 0.5 * self.width(text)
        for i, end in enumerate(self.ends):
            if end <= centre - half:
                self.ends[i] = centre + half
                return i
        if len(self.ends) >= self.max_levels:
            self.omitted += 1
            return None
        self.ends.append(centre + half)
        return len(self.ends) - 1

    @property
    def levels(self) -> int:
        return len(self.ends)


def _reserve(ax, grams: np.ndarray, top_levels: int, bottom_levels: int) -> None:
    """Set y limits so the curve sits between the label bands."""
    finite = grams[np.isfinite(grams)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    span = max(hi - lo, 1.0)
    h_pt = ax.get_position().height * ax.figure.get_figheight() * 72.0
    f_top = min(0.7, (6 + _BOX_PT * top_levels) / h_pt)
    f_bot = min(0.25, (6 + _TRUTH_PT * bottom_levels) / h_pt)
    f_mid = max(0.2, 1.0 - f_top - f_bot)
    total = span / f_mid
    ax.set_ylim(lo - f_bot * total - 0.02 * span, hi + f_top * total + 0.02 * span)


def _legend_weights(ax, has_truth: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [Line2D([], [], color="tab:blue", lw=1, label="plate reading (g; breaks = gaps)"),
               Patch(color="tab:orange", alpha=0.4, label="shelf event, charged to an account"),
               Patch(fc="tab:red", ec="tab:red", alpha=0.4, hatch="///", label="shelf event, attributed to nobody")]
    if has_truth:
        handles.append(Line2D([], [], color="tab:green", marker="^", ls="",
                              label="true take (^) / return (v)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(handles),
              fontsize=7.5, frameon=False)


def _save(fig, plt, path: Path) -> Path:
    """Write ``fig`` as a 256-colour PNG (plots are flat colours: ~3x smaller, same look)."""
    import io

    from PIL import Image  # a dependency of matplotlib
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    buf.seek(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(buf) as img:
        # max-coverage keeps small swatches (legend patches) true to colour; median-cut does not
        img.convert("RGB").quantize(256, method=Image.Quantize.MAXCOVERAGE).save(
            path, format="PNG", optimize=True)
    return path


# ------------------------------------------------------------------- floor


def plot_floor(folder: str | Path, t0_s: float | None = None, t1_s: float | None = None,
               out: str | Path | None = None) -> Path:
    """Plot the store layout with the tracker's tracks and raw detections.

    Args:
        folder: the recording folder.
        t0_s: window start (s), default 0.
        t1_s: window end (s), default ``t0_s`` + :data:`DEFAULT_WINDOW_S`.
        out: PNG to write, default ``folder/plot-floor.png``.

    Returns:
        The path written.

    Raises:
        PlotInputError: empty window.
        PlotDependencyError: matplotlib is missing.
        RecordingError, StoreConfigError: a bad recording.
    """
    from fusion.recording import Recording
    plt = _pyplot()
    rec = Recording(folder)
    t0, t1 = _window(rec, t0_s, t1_s)
    eng = replay_until(rec, t1, history_s=t1 - t0 + 2 * REPLAY_TAIL_S + 60.0)
    windows = eng.tracker.window(t0, t1)
    dets = _detections(rec, t0, t1)
    fig, ax = plt.subplots(figsize=(9, 8))
    if len(dets):
        ax.scatter(dets[:, 0], dets[:, 1], s=3, color="0.6", alpha=0.25, lw=0,
                   label=f"raw detections ({len(dets)})")
    _draw_layout(ax, rec.store)
    _draw_tracks(ax, plt, windows)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.grid(alpha=0.3)
    ax.set_title(f"{rec.store.name}: tracks by account, t = {t0:g}..{t1:g} s  ({rec.folder.name})",
                 fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="account")
    return _save(fig, plt, Path(out) if out else rec.folder / "plot-floor.png")


def _detections(rec, t0: float, t1: float) -> np.ndarray:
    """(N, 2) floor positions (m) of every person detection with t0 <= t <= t1."""
    pts = []
    for frame in rec.iter_vision():
        if frame.t > t1:
            break
        if frame.t >= t0:
            pts.extend(p.xy for p in frame.people)
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def _draw_layout(ax, store) -> None:
    seen: dict[tuple, list[tuple[float, str]]] = {}
    for cell in store.cells:
        seg = cell.front[:, :2]
        key = tuple(np.round(seg, 3).ravel())
        seen.setdefault(key, []).append((float(cell.front[:, 2].mean()), cell.id))
    for i, (key, ids) in enumerate(seen.items()):
        seg = np.asarray(key).reshape(2, 2)
        ax.plot(seg[:, 0], seg[:, 1], color="saddlebrown", lw=3, solid_capstyle="butt",
                marker="|", ms=9, mew=1.0, label="plate front edges" if i == 0 else None, zorder=4)
        ids = [i for _, i in sorted(ids)]
        label = ids[0] if len(ids) == 1 else f"{ids[0]} (+{len(ids) - 1} above)"
        ax.annotate(label, seg.mean(axis=0), fontsize=6, color="saddlebrown", ha="center",
                    va="bottom", rotation=90, xytext=(0, 5), textcoords="offset points", zorder=5)
    for i, gate in enumerate(store.gates):
        zone = np.asarray(gate.zone, dtype=np.float64)
        ax.fill(zone[:, 0], zone[:, 1], color="tab:purple", alpha=0.15,
                label="gate zones" if i == 0 else None)
        ax.annotate(f"{gate.id} ({gate.kind})", zone.mean(axis=0), fontsize=8, color="tab:purple",
                    ha="center", va="center", zorder=6,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "tab:purple", "alpha": 0.8})


def _draw_tracks(ax, plt, windows) -> None:
    accounts = sorted({w.account for w in windows if w.account})
    cmap = plt.get_cmap("tab10" if len(accounts) <= 10 else "tab20")
    colour = {a: cmap(i % cmap.N) for i, a in enumerate(accounts)}
    labelled: set[str] = set()
    for w in sorted(windows, key=lambda w: (w.account is None, w.account or "", w.track_id)):
        if not len(w.t):
            continue
        name = w.account or "unbound"
        col = colour.get(w.account, "0.3")
        label = None if name in labelled else name
        labelled.add(name)
        ax.plot(w.xy[:, 0], w.xy[:, 1], color=col, lw=1.6, ls="-" if w.account else "--",
                label=label)
        ax.plot(w.xy[0, 0], w.xy[0, 1], "o", color=col, ms=4)
        ax.plot(w.xy[-1, 0], w.xy[-1, 1], "s", color=col, ms=4)
        if len(w.hands_p):
            ax.scatter(w.hands_p[:, 0], w.hands_p[:, 1], marker="x", s=6, color=col, alpha=0.35, lw=0.6)
    ax.plot([], [], "o", color="0.3", ms=4, label="track start")
    ax.plot([], [], "s", color="0.3", ms=4, label="track end")
    ax.scatter([], [], marker="x", color="0.3", label="hand points")


# --------------------------------------------------------------------- CLI


def cmd_plot(args) -> int:
    """``shelf-fusion plot KIND RECORDING``: write the plot and print its path."""
    if args.kind == "weights":
        cells = [c.strip() for c in (args.cells or "").split(",") if c.strip()]
        path = plot_weights(args.recording, cells, args.t0, args.t1, args.out)
    else:
        if args.cells:
            raise PlotInputError("--cells applies to 'plot weights' only")
        path = plot_floor(args.recording, args.t0, args.t1, args.out)
    print(path)
    return 0


def add_parsers(subparsers) -> None:
    """Register the ``plot`` command on the CLI's subparsers."""
    p = subparsers.add_parser(
        "plot", help="plot plate weights with engine decisions, or tracks on the floor",
        description="Write a PNG of a recording: 'weights' (grams vs time of chosen plates, "
                    "engine shelf events and true takes) or 'floor' (layout, tracks by "
                    "account, raw detections).")
    p.add_argument("kind", choices=("weights", "floor"), help="what to plot")
    p.add_argument("recording", help="recording folder")
    p.add_argument("--cells", default=None, metavar="ID[,ID...]",
                   help="plates to plot (weights only; default: the busiest few in the window)")
    p.add_argument("--t0", type=float, default=None, metavar="S", help="window start, s (default 0)")
    p.add_argument("--t1", type=float, default=None, metavar="S",
                   help=f"window end, s (default t0 + {DEFAULT_WINDOW_S:g})")
    p.add_argument("--out", default=None, metavar="FILE.png", help="PNG to write (default RECORDING/plot-KIND.png)")
    p.set_defaults(func=cmd_plot)

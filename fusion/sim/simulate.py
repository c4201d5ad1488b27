"""Run a scenario: plan the shoppers, then generate and write the recording
in time blocks so memory does not grow with the recording length."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fusion.recording import RecordingWriter
from fusion.sim.behaviour import Plan, plan_run
from fusion.sim.layout import Layout, build_layout
from fusion.sim.loadcell import LoadCellModel, LoadTimeline, sample_signal, sample_times
from fusion.sim.presets import SCENARIOS
from fusion.sim.scenario import Scenario
from fusion.sim.vision import VisionBlocks
from fusion.types import WEIGHT_DTYPE, GateTap, SampleFlag, Truth, VisionFrame


@dataclass(frozen=True, slots=True)
class SimSummary:
    """What one :func:`simulate` run wrote.

    Attributes:
        scenario: preset name.
        seed: the seed.
        out_dir: the recording folder.
        end_s: recording length (s).
        cells: number of plates.
        accounts: tapped accounts (rows of gates.csv).
        people: people on the floor (party members included).
        takes: truth events with qty > 0; returns: with qty < 0.
        weight_samples: rows of weights.csv (gaps are missing rows).
        vision_frames: lines of vision.jsonl.
        detections: person detections over all frames (false ones included).
    """

    scenario: str
    seed: int
    out_dir: str
    end_s: float
    cells: int
    accounts: int
    people: int
    takes: int
    returns: int
    weight_samples: int
    vision_frames: int
    detections: int


@dataclass(frozen=True, slots=True)
class Block:
    """Everything stamped in one time block [t0_s, t1_s)."""

    k: int
    t0_s: float
    t1_s: float
    weights: np.ndarray
    frames: list[VisionFrame]
    taps: list[GateTap]


class WeightBlocks:
    """Samples of all plates, block by block, in time order.

    Jitter can move a sample up to ``margin_s`` across a block boundary, so
    samples within that margin of the block end are held back and merged into
    the next block.
    """

    def __init__(self, models: list[LoadCellModel], timelines: list[LoadTimeline], seed: int):
        self.models, self.timelines, self.seed = models, timelines, seed
        self.margin_s = max(0.3 * m.period_s for m in models)
        self.carry = np.empty(0, WEIGHT_DTYPE)

    def block(self, k: int, t0_s: float, t1_s: float, last: bool) -> np.ndarray:
        """(n,) :data:`WEIGHT_DTYPE` rows to write for block ``k``."""
        rng = np.random.default_rng([self.seed, 1, k])
        parts = [self.carry]
        for i, (m, tl) in enumerate(zip(self.models, self.timelines, strict=True)):
            t = sample_times(m, t0_s, t1_s, rng)
            if k == 0:
                t = t[t >= 0.0]
            rows = np.empty(t.size, WEIGHT_DTYPE)
            rows["t"] = t
            rows["cell"] = i
            rows["grams"] = sample_signal(m, tl, t, rng)
            rows["flags"] = np.where(np.isnan(rows["grams"]), SampleFlag.ERROR, SampleFlag.NONE)
            parts.append(rows)
        rows = np.concatenate(parts)
        rows = rows[np.argsort(rows["t"], kind="stable")]
        if last:
            self.carry = np.empty(0, WEIGHT_DTYPE)
            return rows
        cut = int(np.searchsorted(rows["t"], t1_s - self.margin_s))
        self.carry = rows[cut:].copy()
        return rows[:cut]


def resolve_scenario(scenario: str | Scenario, duration_s: float | None = None) -> Scenario:
    """A preset by name (or a :class:`Scenario` as is), optionally with another duration."""
    if isinstance(scenario, str):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        scenario = SCENARIOS[scenario]
    if duration_s is not None:
        if not duration_s > scenario.crowd.arrival_tail_s:
            raise ValueError(f"duration_s must exceed the scenario's arrival tail "
                             f"({scenario.crowd.arrival_tail_s} s), got {duration_s}")
        scenario = replace(scenario, duration_s=float(duration_s))
    return scenario


def prepare(scenario: str | Scenario, seed: int,
            duration_s: float | None = None) -> tuple[Scenario, Layout, Plan]:
    """Build the store and plan every shopper (cheap; no dense signals yet)."""
    scn = resolve_scenario(scenario, duration_s)
    rng = np.random.default_rng([int(seed), 0])
    layout = build_layout(scn, rng)
    return scn, layout, plan_run(scn, layout, rng, scn.duration_s)


def iter_blocks(scn: Scenario, layout: Layout, plan: Plan, seed: int) -> Iterator[Block]:
    """Generate the recording block by block (each block independent of the
    later ones; memory bounded by one block)."""
    weights = WeightBlocks(layout.models, plan.timelines, seed)
    vision = VisionBlocks(scn.vision, layout, plan.people, seed)
    n_blocks = max(1, math.ceil(plan.end_s / scn.block_s))
    taps = sorted(plan.taps, key=lambda g: g.t)
    j = 0
    for k in range(n_blocks):
        t0, t1 = k * scn.block_s, min((k + 1) * scn.block_s, plan.end_s)
        last = k == n_blocks - 1
        block_taps = []
        while j < len(taps) and (taps[j].t < t1 or last):
            block_taps.append(taps[j])
            j += 1
        yield Block(k, t0, t1, weights.block(k, t0, t1, last), vision.block(k, t0, t1), block_taps)


def shift_block(block: Block, dt_s: float) -> Block:
    """The same block on a store clock that reads ``dt_s`` more."""
    if not dt_s:
        return block
    w = block.weights.copy()
    w["t"] += dt_s
    return replace(block, t0_s=block.t0_s + dt_s, t1_s=block.t1_s + dt_s, weights=w,
                   frames=[replace(f, t=f.t + dt_s) for f in block.frames],
                   taps=[replace(g, t=round(g.t + dt_s, 4)) for g in block.taps])


def shift_truth(truth: Truth, dt_s: float) -> Truth:
    """The truth on a store clock that reads ``dt_s`` more."""
    if not dt_s:
        return truth
    shoppers = {a: replace(s, enter_t=round(s.enter_t + dt_s, 4),
                           exit_t=None if s.exit_t is None else round(s.exit_t + dt_s, 4))
                for a, s in truth.shoppers.items()}
    return Truth(shoppers, tuple(replace(e, t=round(e.t + dt_s, 4)) for e in truth.events))


def simulate(scenario: str | Scenario, seed: int, out_dir: str | Path, *,
             progress: Callable[[float], None] | None = None,
             duration_s: float | None = None) -> SimSummary:
    """Simulate a store and write a recording folder (with truth.json).

    Args:
        scenario: a preset name from :data:`SCENARIOS` (the default preset is
            :data:`DEFAULT_SCENARIO`, ``"concession"``) or a :class:`Scenario`.
        seed: the seed; the same seed gives byte-identical files.
        out_dir: the folder to write (created; existing recording files replaced).
            Times in it are shifted by ``scenario.clock_start_s``.
        progress: called with the fraction done (0..1] after each block.
        duration_s: override the scenario's nominal duration (s).

    Returns:
        A :class:`SimSummary` of what was written.
    """
    scn, layout, plan = prepare(scenario, seed, duration_s)
    n_blocks = max(1, math.ceil(plan.end_s / scn.block_s))
    n_w = n_f = n_d = 0
    with RecordingWriter(out_dir, layout.store, gzip=scn.gzip) as writer:
        for block in iter_blocks(scn, layout, plan, seed):
            block = shift_block(block, scn.clock_start_s)
            writer.write_weights(block.weights)
            for frame in block.frames:
                writer.write_vision(frame)
            for tap in block.taps:
                writer.write_tap(tap)
            n_w += len(block.weights)
            n_f += len(block.frames)
            n_d += sum(len(f.people) for f in block.frames)
            if progress is not None:
                progress((block.k + 1) / n_blocks)
        writer.write_truth(shift_truth(plan.truth, scn.clock_start_s))
    ev = plan.truth.events
    return SimSummary(scn.name, int(seed), str(out_dir), round(plan.end_s, 3),
                      len(layout.store.cells), len(plan.taps), len(plan.people),
                      sum(e.qty > 0 for e in ev), sum(e.qty < 0 for e in ev), n_w, n_f, n_d)

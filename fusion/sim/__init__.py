"""Seeded, deterministic store simulator (ground truth for tests and benchmarks).

>>> from fusion.sim import SCENARIOS, simulate
>>> summary = simulate("concession", seed=1, out_dir="rec")   # doctest: +SKIP

The fusion engine never imports this package. See ``docs/simulator.md``.
"""

from fusion.sim.presets import DEFAULT_SCENARIO, SCENARIOS
from fusion.sim.scenario import (
    BehaviourSpec,
    CrowdSpec,
    LayoutSpec,
    LoadCellSpec,
    Scenario,
    SkuSpec,
    VisionSpec,
)
from fusion.sim.simulate import SimSummary, simulate

__all__ = ["SCENARIOS", "DEFAULT_SCENARIO", "Scenario", "SkuSpec", "LayoutSpec", "LoadCellSpec",
           "CrowdSpec", "BehaviourSpec", "VisionSpec", "SimSummary", "simulate"]

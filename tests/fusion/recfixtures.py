"""Tiny hand-written stores and recordings for reader tests."""

from __future__ import annotations

from pathlib import Path

STORE_TOML = """\
format = 1
name = "Test stand"

[[sku]]
id = "cola-330"
name = "Cola 330 ml can"
weight_g = 352.0
weight_sd_g = 2.5
price = 3.50

[[sku]]
id = "chips"
weight_g = 45.0
weight_sd_g = 1.0

[[cell]]
id = "A-1"
front = [[0.00, 2.00, 1.20], [0.40, 2.00, 1.20]]
skus = ["cola-330"]
sample_hz = 20
noise_g = 1.0

[[cell]]
id = "A-2"
front = [[0.40, 2.00, 1.20], [0.80, 2.00, 1.20]]
skus = ["chips"]

[[gate]]
id = "G1"
zone = [[4.0, 0.0], [5.0, 0.0], [5.0, 0.8], [4.0, 0.8]]
kind = "entry"

[[gate]]
id = "G2"
zone = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.8], [0.0, 0.8]]
kind = "exit"

[[camera]]
id = "C1"
"""

WEIGHTS = """\
t,cell,grams
0.000,A-1,4224.3
0.012,A-2,1733.9
0.050,A-1,4224.1
0.062,A-2,
0.100,A-1,4223.9
"""

VISION = """\
{"t": 0.02, "camera": "C1", "people": [{"xy": [1.21, 3.40], "conf": 0.93, "hands": [{"p": [1.45, 2.10, 1.18]}, {"p": [1.10, 3.30, 0.95], "holding": {"cola-330": 0.8}}]}]}
{"t": 0.07, "camera": "C1", "people": []}
"""

GATES = """\
t,gate,shopper,party
0.01,G1,A17,1
0.06,G1,B2,
"""

TRUTH = """{"format": 1,
 "shoppers": {"A17": {"enter_t": 0.01, "exit_t": 95.0, "items": {"cola-330": 2}}},
 "events": [{"t": 40.2, "shopper": "A17", "cell": "A-1", "sku": "cola-330", "qty": 1}]}
"""


def make_recording(folder: Path, **overrides: str) -> Path:
    """Write the small recording to ``folder``; ``overrides`` replace file texts by name."""
    files = {"store.toml": STORE_TOML, "weights.csv": WEIGHTS, "vision.jsonl": VISION,
             "gates.csv": GATES, "truth.json": TRUTH}
    files.update({k.replace("__", "."): v for k, v in overrides.items()})
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder

"""Shared helpers of the bring-up tests: a small store.toml with controllers."""

from __future__ import annotations

from pathlib import Path

STORE_HEAD = """format = 1
name = "bring-up bench"

[[sku]]
id = "cola-330"
name = "Cola 330 ml can"
weight_g = 352.0
weight_sd_g = 2.5

[[cell]]
id = "A1"
front = [[0.0, 2.0, 1.2], [0.4, 2.0, 1.2]]
skus = ["cola-330"]

[[cell]]
id = "B1"
front = [[0.4, 2.0, 1.2], [0.8, 2.0, 1.2]]
skus = ["cola-330"]

[[gate]]
id = "G1"
zone = [[4.0, 0.0], [5.0, 0.0], [5.0, 0.8], [4.0, 0.8]]
kind = "both"
"""


def controller(url: str, profile: str, cells: list[str], rate_hz: float = 20.0) -> str:
    quoted = ", ".join(f'"{c}"' for c in cells)
    return (f'\n[[controller]]\nurl = "{url}"\nprofile = "{profile}"\ncells = [{quoted}]\n'
            f"rate_hz = {rate_hz}\n")


def write_store(folder: Path, *controllers: str) -> Path:
    path = folder / "store.toml"
    path.write_text(STORE_HEAD + "".join(controllers), encoding="utf-8")
    return path

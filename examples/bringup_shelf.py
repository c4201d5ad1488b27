"""Bring up a two-controller shelf through the Python API, against emulators.

The steps of docs/bring-up.md without the CLI: start emulators (an HX711 board
on a pty fed by the simulator's load-cell model, a Modbus indicator on TCP),
probe/scan them, read, zero, calibrate, measure noise, describe them in a
store.toml, record two seconds and run the live engine. Run it with the
repository's venv: ``python examples/bringup_shelf.py [OUT_DIR]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from drivers.registry import open_driver
from drivers.scale_modbus import scan_modbus
from drivers.scale_serial import probe
from fusion.recording import Recording, RecordingWriter
from fusion.store import load_store
from fusion.types import GateTap
from shelf_fusion.bringup_emulate import start_emulator
from shelf_fusion.bringup_store import write_cell_calibration
from shelf_fusion.live import LiveRun, LiveShelf, load_controllers

STORE = """format = 1
name = "bench shelf"

[[sku]]
id = "cola-330"
name = "Cola 330 ml can"
weight_g = 352.0
weight_sd_g = 2.5

[[cell]]
id = "K3-2-1"
front = [[0.0, 2.0, 1.2], [0.4, 2.0, 1.2]]
skus = ["cola-330"]

[[cell]]
id = "K3-2-2"
front = [[0.4, 2.0, 1.2], [0.8, 2.0, 1.2]]
skus = ["cola-330"]

[[gate]]
id = "G1"
zone = [[4.0, 0.0], [5.0, 0.0], [5.0, 0.8], [4.0, 0.8]]
kind = "both"

[[controller]]
url = "{hx}"
profile = "hx711-adc"
cells = ["K3-2-1"]
rate_hz = 12

[[controller]]
url = "{mb}"
profile = "generic-rs485"
cells = ["K3-2-2"]
rate_hz = 20
"""


def read_for(drv, seconds: float) -> np.ndarray:
    """Everything ``drv`` delivers in ``seconds`` (polling at 20 Hz)."""
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(drv.read())
        time.sleep(0.05)
    return np.concatenate(out)


def main(out: Path) -> None:
    hx = start_emulator("hx711-adc", scenario="easy")      # serial pty, simulated plate
    mb = start_emulator("generic-rs485", grams=2480.0)       # Modbus TCP, constant load
    try:
        print("probe:", [(baud, name) for baud, name, _ in probe(hx.url, ["hx711-adc", "mt-sics"])])
        print("scan:", [(h.unit, h.profile, h.grams) for h in
                        scan_modbus(mb.url, range(1, 3), ["generic-rs485"])])

        with open_driver(hx.url, "hx711-adc") as drv:
            s = read_for(drv, 1.0)
            print(f"hx711: {len(s)} samples, mean {np.nanmean(s['grams']):.1f} g, "
                  f"noise sd {np.nanstd(s['grams']):.2f} g")
            drv.zero()                                       # HX711_ADC 't': the board keeps it

        with open_driver(mb.url, "generic-rs485") as drv:
            before = float(drv.read()["grams"][0])
            drv.calibrate_span(2500.0)                       # span stored in the device
            print(f"modbus span: {before:.1f} g -> {float(drv.read()['grams'][0]):.1f} g")

        out.mkdir(parents=True, exist_ok=True)
        store_path = out / "store.toml"
        store_path.write_text(STORE.format(hx=hx.url, mb=mb.url), encoding="utf-8")
        # The HX711 sketch cannot store a span: keep a scale factor in store.toml.
        write_cell_calibration(store_path, "K3-2-1", scale=1.0, zero_g=0.0)

        store = load_store(store_path)
        with RecordingWriter(out / "rec", store) as writer, \
                LiveShelf(load_controllers(store)) as shelf:
            while shelf.clock() < 2.0:
                writer.write_weights(shelf.poll())
                time.sleep(0.02)
            writer.write_weights(shelf.drain())
        w = np.concatenate(list(Recording(out / "rec").iter_weights()))
        print(f"recorded {len(w)} samples from {len(np.unique(w['cell']))} cells")

        with LiveShelf(load_controllers(store)) as shelf:
            run = LiveRun(store, shelf, [GateTap(0.2, "G1", "A17")],
                          on_receipt=lambda r: print("receipt:", r.shopper, dict(r.items)))
            run.run(seconds=1.5)
    finally:
        hx.stop()
        mb.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="bringup-")))

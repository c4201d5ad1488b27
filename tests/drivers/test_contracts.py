"""Contracts every driver backend and profile must keep.

* every backend in :data:`drivers.registry.BACKENDS` has an emulator module
  next to it (``drivers/scale_x.py`` -> ``drivers/scale_x_emu.py``) and a
  driver class derived from :class:`drivers.base.LoadCellDriver` whose
  constructor does no I/O;
* every serial profile in ``hardware/`` is read correctly from its emulator;
* ``fusion/`` never imports ``drivers``, ``serial``, ``pymodbus`` or ``cv2``.
"""

import ast
import importlib
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from drivers.base import LoadCellDriver
from drivers.errors import DriverError
from drivers.registry import BACKENDS, driver_class

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"drivers", "serial", "pymodbus", "cv2"}
#: A URL of each backend's kind where nothing listens (constructors must not connect).
URLS = {"modbus": "modbus-tcp://127.0.0.1:9?unit=1"}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backend_has_emulator_and_contract(backend):
    module, _ = BACKENDS[backend]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"backend {backend!r}: {module} not written yet")
    emu = module + "_emu"
    assert importlib.util.find_spec(emu) is not None, f"backend {backend!r} has no emulator {emu}"
    cls = driver_class(backend)
    assert issubclass(cls, LoadCellDriver)
    url = URLS.get(backend, "/dev/nonexistent-shelf-fusion-port")
    try:  # no device I/O here; validating a profile file early is allowed
        drv = cls(url, profile="no-such-profile")
    except DriverError as e:
        assert "profile" in str(e)
        return
    assert not drv.is_open
    drv.close()
    drv.close()


def test_backends_are_imported_lazily():
    code = ("import sys, drivers.registry as r; "
            "assert not [m for m in r.BACKENDS.values() if m[0] in sys.modules], sys.modules.keys(); "
            "assert 'serial' not in sys.modules and 'pymodbus' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in
              ("import_module", "__import__")):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_fusion_never_imports_hardware_modules():
    sources = sorted((ROOT / "fusion").rglob("*.py"))
    assert sources
    offenders = {str(p.relative_to(ROOT)): sorted(_imported_roots(p) & FORBIDDEN)
                 for p in sources if _imported_roots(p) & FORBIDDEN}
    assert not offenders, f"fusion/ must not import hardware modules: {offenders}"


def test_serial_profiles_read_from_their_emulators():
    from drivers.scale_serial import SerialScaleDriver, serial_profiles
    from drivers.scale_serial_emu import PtySerialEmulator

    names = serial_profiles()
    assert {"mt-sics", "hx711-adc", "hx711-openscale"} <= set(names)
    for name in names:
        with PtySerialEmulator(name, signal=lambda t: 123.0, noise_g=0.0, rate_hz=100.0) as emu:
            with SerialScaleDriver(emu.port, profile=name, timeout_s=0.5) as drv:
                deadline, got = time.monotonic() + 5.0, []
                while sum(map(len, got)) < 3 and time.monotonic() < deadline:
                    got.append(drv.read())
                    time.sleep(0.01)
        samples = np.concatenate(got)
        assert len(samples) >= 3, name
        assert np.allclose(samples["grams"], 123.0, atol=0.01), name

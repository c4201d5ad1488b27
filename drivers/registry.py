"""Name -> driver class, imported only when used; protocol profiles as data.

Device URLs:

* serial (pyserial URLs): ``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``,
  ``loop://``, ``rfc2217://host:port`` -- with a serial profile
  (``mt-sics``, ``hx711-openscale``, ...);
* ``modbus-tcp://host:port?unit=1``;
* ``modbus-rtu:///dev/ttyUSB0?baud=19200&parity=E&unit=1``.

Profiles are TOML files in the repository's ``hardware/`` folder (or any path
given explicitly); ``profile_path("mt-sics")`` finds ``hardware/mt_sics.toml``.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path
from typing import Any

from drivers.errors import DriverError

#: Backend name -> (module, class); the module is imported on first use.
BACKENDS: dict[str, tuple[str, str]] = {
    "serial": ("drivers.scale_serial", "SerialScaleDriver"),
    "modbus": ("drivers.scale_modbus", "ModbusScaleDriver"),
}

#: Folder holding the protocol profiles; override with $SHELF_FUSION_HARDWARE.
HARDWARE_DIR = Path(os.environ.get("SHELF_FUSION_HARDWARE",
                                   Path(__file__).resolve().parent.parent / "hardware"))


def backend_for_url(url: str) -> str:
    """Which backend speaks to ``url``: ``"modbus"`` or ``"serial"``."""
    return "modbus" if url.startswith(("modbus-tcp://", "modbus-rtu://")) else "serial"


def driver_class(backend: str) -> type:
    """Import and return the driver class of ``backend``."""
    try:
        module, name = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown driver backend {backend!r}; known: {sorted(BACKENDS)}") from None
    return getattr(importlib.import_module(module), name)


def profile_path(profile: str) -> Path:
    """Path of a profile given by name (``mt-sics``) or as a path to a TOML file."""
    p = Path(profile)
    if p.suffix == ".toml" and p.exists():
        return p
    candidate = HARDWARE_DIR / (profile.replace("-", "_") + ".toml")
    if not candidate.exists():
        known = sorted(f.stem.replace("_", "-") for f in HARDWARE_DIR.glob("*.toml"))
        raise DriverError(f"unknown profile {profile!r}: no {candidate}; known profiles: {known}")
    return candidate


def load_profile(profile: str) -> dict[str, Any]:
    """Load a protocol profile (TOML) by name or path."""
    path = profile_path(profile)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise DriverError(f"{path}: not valid TOML: {e}") from None
    data.setdefault("name", profile)
    data["_path"] = str(path)
    return data


def open_driver(url: str, profile: str, **kwargs):
    """Create (not open) the driver for ``url`` speaking ``profile``."""
    return driver_class(backend_for_url(url))(url, profile=profile, **kwargs)

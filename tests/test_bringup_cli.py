"""The bring-up commands of the CLI against the real emulators (pty and Modbus TCP)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from drivers.modbus.emu_model import EmulatedScale
from drivers.scale_modbus_emu import TcpEmulator
from drivers.scale_serial_emu import PtySerialEmulator
from fusion.recording import Recording
from shelf_fusion.cli import main
from tests.bringup_helpers import controller, write_store


@pytest.fixture
def sics():
    with PtySerialEmulator("mt-sics", signal=lambda t: 4.0) as emu:
        yield emu


@pytest.fixture
def modbus():
    scale = EmulatedScale("generic-rs485", signal=lambda t: 1234.5)
    with TcpEmulator({3: scale}) as srv:
        yield srv, scale


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_read_json_from_mtsics_pty(sics, capsys):
    assert main(["read", sics.port, "--profile", "mt-sics", "--count", "4", "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert len(rows) == 4
    assert all(set(r) == {"t", "cell", "grams", "stable"} for r in rows)
    assert [r["grams"] for r in rows] == [4.0] * 4
    assert all(r["cell"] == 0 and r["stable"] for r in rows)
    assert [r["t"] for r in rows] == sorted(r["t"] for r in rows)


def test_read_json_from_modbus_tcp(modbus, capsys):
    srv, _ = modbus
    assert main(["read", srv.url(3), "--profile", "generic-rs485", "--count", "3", "--json"]) == 0
    assert [r["grams"] for r in _json_lines(capsys.readouterr().out)] == [1234.5] * 3


def test_read_json_prints_invalid_reading_as_null(capsys):
    scale = EmulatedScale("generic-rs485", signal=lambda t: 1234.5, capacity_g=1000.0)
    with TcpEmulator({1: scale}) as srv:  # overloaded: no valid value
        assert main(["read", srv.url(1), "--profile", "generic-rs485", "--count", "2",
                     "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert [(r["grams"], r["stable"]) for r in rows] == [(None, False)] * 2


def test_zero_and_tare_on_mtsics(sics, capsys):
    assert main(["zero", sics.port, "--profile", "mt-sics"]) == 0
    assert b"Z" in sics.received
    assert main(["tare", sics.port, "--profile", "mt-sics"]) == 0
    assert "tared" in capsys.readouterr().out
    assert b"T" in sics.received


def test_zero_refused_is_one_line_error(capsys):
    with PtySerialEmulator("mt-sics", signal=lambda t: 5000.0) as emu:  # outside zero range
        assert main(["zero", emu.port, "--profile", "mt-sics"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shelf-fusion zero: error:") and "\n" not in err


def test_calibrate_modbus_span_on_device(modbus, capsys):
    srv, _ = modbus
    assert main(["calibrate", srv.url(3), "--profile", "generic-rs485", "--known-grams", "1200",
                 "--no-zero", "--settle", "0.3"]) == 0
    assert "on the device" in capsys.readouterr().out
    main(["read", srv.url(3), "--profile", "generic-rs485", "--count", "2", "--json"])
    assert [r["grams"] for r in _json_lines(capsys.readouterr().out)] == [1200.0, 1200.0]


def test_calibrate_serial_writes_scale_into_store(tmp_path, capsys):
    with PtySerialEmulator("hx711-openscale", signal=lambda t: 510.0, noise_g=0.0) as emu:
        store = write_store(tmp_path, controller(emu.port, "hx711-openscale", ["A1"]))
        assert main(["calibrate", emu.port, "--profile", "hx711-openscale", "--known-grams",
                     "500", "--no-zero", "--settle", "0.5", "--write-store", str(store),
                     "--cell", "A1"]) == 0
    data = tomllib.loads(store.read_text())
    ctrl = data["controller"][0]
    assert ctrl["scale"]["A1"] == pytest.approx(500 / 510, rel=1e-4)
    assert ctrl["zero_g"]["A1"] == 0.0
    assert (tmp_path / "store.toml.bak").exists()
    from fusion.store import load_store  # the rewritten store still loads
    assert [c.id for c in load_store(store).cells] == ["A1", "B1"]


def test_calibrate_mtsics_without_store_says_what_to_do(sics, capsys):
    assert main(["calibrate", sics.port, "--profile", "mt-sics", "--known-grams", "100",
                 "--no-zero", "--settle", "0.3"]) == 2
    assert "--write-store" in capsys.readouterr().err


def test_scan_finds_serial_profile_and_modbus_unit(sics, modbus, capsys):
    assert main(["scan", sics.port, "--profile", "mt-sics", "--profile", "hx711-adc",
                 "--timeout", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "mt-sics" in out and "hx711-adc" not in out
    srv, _ = modbus
    assert main(["scan", srv.url(1), "--units", "2-4", "--profile", "generic-rs485"]) == 0
    out = capsys.readouterr().out
    assert "unit   3  profile generic-rs485" in out and "1234.50 g" in out
    assert "unit   2" not in out and "unit   4" not in out


def test_record_two_controllers_writes_valid_recording(sics, modbus, tmp_path, capsys):
    srv, _ = modbus
    store = write_store(tmp_path, controller(sics.port, "mt-sics", ["A1"], 20),
                        controller(srv.url(3), "generic-rs485", ["B1"], 20))
    out = tmp_path / "rec"
    assert main(["record", "--store", str(store), "--out", str(out), "--seconds", "1.0"]) == 0
    rec = Recording(out)
    w = np.concatenate(list(rec.iter_weights()))
    assert np.all(np.diff(w["t"]) >= 0) and w["t"][0] >= 0
    by_cell = {c.id: w["grams"][w["cell"] == i] for i, c in enumerate(rec.store.cells)}
    assert len(by_cell["A1"]) >= 3 and len(by_cell["B1"]) >= 3
    assert np.all(by_cell["A1"] == 4.0) and np.all(by_cell["B1"] == 1234.5)
    assert "controller" in rec.store.extra  # readers keep, and ignore, the hardware tables
    assert (out / "weights.csv").read_text().startswith("t,cell,grams\n")


def _ctrl_c(args: list[str], started: str, poll_s: float = 1.0) -> tuple[int, str, str]:
    """Run the CLI with ``args`` in a child process, press Ctrl-C once it has
    printed ``started`` on stderr and polled ``poll_s``; (exit code, stdout, stderr)."""
    import signal
    import time
    proc = subprocess.Popen([sys.executable, "-m", "shelf_fusion.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().startswith(started)
        time.sleep(poll_s)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, out, err


def test_record_until_ctrl_c_writes_a_whole_recording(sics, tmp_path):
    store = write_store(tmp_path, controller(sics.port, "mt-sics", ["A1"], 20))
    out = tmp_path / "rec"
    code, stdout, err = _ctrl_c(["record", "--store", str(store), "--out", str(out)],
                                "recording 1 controller(s)")
    assert code == 0, err
    assert "wrote" in stdout and "A1" in stdout
    w = np.concatenate(list(Recording(out).iter_weights()))  # every line whole and valid
    assert len(w) >= 3 and np.all(w["grams"] == 4.0)


def test_record_bad_controller_table_names_file_and_key(tmp_path, capsys):
    store = write_store(tmp_path, controller("/dev/null", "mt-sics", ["Z9"]))
    assert main(["record", "--store", str(store), "--out", str(tmp_path / "o"),
                 "--seconds", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "store.toml" in err and "controller[0].cells" in err and "Z9" in err


def test_run_on_emulated_controller_with_vision_and_gates(sics, tmp_path, capsys):
    store = write_store(tmp_path, controller(sics.port, "mt-sics", ["A1"], 20))
    (tmp_path / "gates.csv").write_text("t,gate,shopper,party\n0.2,G1,S1,1\n")
    frame = {"t": 0.3, "camera": "C1", "people": [{"xy": [4.5, 0.4], "conf": 0.9}]}
    (tmp_path / "vision.jsonl").write_text(json.dumps(frame) + "\n")
    out = tmp_path / "receipts.jsonl"
    assert main(["run", "--store", str(store), "--vision", str(tmp_path / "vision.jsonl"),
                 "--gates", str(tmp_path / "gates.csv"), "--out", str(out),
                 "--seconds", "1.0", "--review-below", "0.9"]) == 0
    receipts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["shopper"] for r in receipts] == ["S1"]
    assert receipts[0]["items"] == {} and math.isfinite(receipts[0]["decided_t"])
    with pytest.raises(SystemExit) as e:
        main(["run", "--store", str(store), "--review-below", "-0.1"])
    assert e.value.code == 2 and "must be between 0 and 1" in capsys.readouterr().err


def test_emulate_prints_url_then_stops(capsys):
    proc = subprocess.run([sys.executable, "-m", "shelf_fusion.cli", "emulate", "laumas-w100",
                           "--seconds", "0.5"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "listening on modbus-tcp://127.0.0.1:" in proc.stdout


def test_emulate_serial_scenario_is_readable(capsys):
    from shelf_fusion.bringup_emulate import start_emulator
    emu = start_emulator("hx711-adc", scenario="easy")
    try:
        assert main(["read", emu.url, "--profile", "hx711-adc", "--count", "3", "--json"]) == 0
    finally:
        emu.stop()
    rows = _json_lines(capsys.readouterr().out)
    assert len(rows) == 3 and all(r["grams"] is not None and r["grams"] > 0 for r in rows)


def test_run_until_ctrl_c_writes_the_open_receipts(sics, tmp_path):
    store = write_store(tmp_path, controller(sics.port, "mt-sics", ["A1"], 20))
    (tmp_path / "gates.csv").write_text("t,gate,shopper,party\n0.0,G1,S2,1\n")
    out = tmp_path / "receipts.jsonl"
    code, _, err = _ctrl_c(["run", "--store", str(store), "--gates", str(tmp_path / "gates.csv"),
                            "--out", str(out)], "running on 1 controller", poll_s=0.5)
    assert code == 0, err
    assert [json.loads(line)["shopper"] for line in out.read_text().splitlines()] == ["S2"]


def test_devices_lists_ports_or_says_none(capsys):
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.strip()


class _Operator:
    """Stands in for the person at the shelf: puts the mass on when asked."""

    def __init__(self, empty_g: float, loaded_g: float):
        self.load_g = empty_g
        self.loaded_g = loaded_g
        self.asked: list[str] = []

    def __call__(self, text: str) -> None:
        self.asked.append(text)
        if "mass" in text:
            self.load_g = self.loaded_g


def test_calibrate_with_zero_software_board_writes_zero_and_scale(tmp_path, monkeypatch, capsys):
    op = _Operator(empty_g=37.0, loaded_g=1049.0)
    monkeypatch.setattr("shelf_fusion.bringup._prompt", op)
    with PtySerialEmulator("hx711-openscale", signal=lambda t: op.load_g, noise_g=0.0) as emu:
        store = write_store(tmp_path, controller(emu.port, "hx711-openscale", ["B1"]))
        assert main(["calibrate", emu.port, "--profile", "hx711-openscale", "--known-grams",
                     "1000", "--settle", "0.5", "--write-store", str(store), "--cell", "B1"]) == 0
    assert len(op.asked) == 2 and "empty" in op.asked[0]
    ctrl = tomllib.loads(store.read_text())["controller"][0]
    assert ctrl["zero_g"]["B1"] == pytest.approx(37.0, abs=0.01)
    assert ctrl["scale"]["B1"] == pytest.approx(1000 / (1049 - 37), rel=1e-4)


def test_calibrate_with_zero_on_modbus_device(monkeypatch, capsys):
    op = _Operator(empty_g=37.0, loaded_g=1049.0)
    monkeypatch.setattr("shelf_fusion.bringup._prompt", op)
    with TcpEmulator({1: EmulatedScale("generic-rs485", signal=lambda t: op.load_g)}) as srv:
        assert main(["calibrate", srv.url(1), "--profile", "generic-rs485", "--known-grams",
                     "1000", "--settle", "0.3"]) == 0
        assert "1012.00 g -> 1000.00 g" in capsys.readouterr().out
        main(["read", srv.url(1), "--profile", "generic-rs485", "--count", "1", "--json"])
    assert _json_lines(capsys.readouterr().out)[0]["grams"] == 1000.0


def test_stream_prints_rate_and_noise(sics, capsys):
    assert main(["stream", sics.port, "--profile", "mt-sics", "--seconds", "1.2",
                 "--refresh", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("ch0") and " Hz " in line and "sd" in line
                         for line in lines)
    assert "\x1b[" not in "".join(lines)  # not a tty: plain lines


def test_ctrl_c_stops_sets_the_event_first_and_interrupts_second():
    import os
    import signal
    import time

    from shelf_fusion.bringup_live import ctrl_c_stops
    before = signal.getsignal(signal.SIGINT)
    with ctrl_c_stops() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs at the next bytecode in the main thread
        assert stop.is_set()
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
            raise AssertionError("a second Ctrl-C must interrupt")
        except KeyboardInterrupt:
            pass
    assert signal.getsignal(signal.SIGINT) is before

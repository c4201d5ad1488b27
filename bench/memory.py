"""Peak memory of a replay against the recording's length.

The reader streams every file and the engine keeps only a sliding window of
weights, tracks and open receipts, so peak memory must not grow with the
length of a recording. This simulates the ``concession`` store for 10 and 40
minutes (seed 0), replays each in a
fresh child process (``shelf-fusion replay``'s code path) and reports the
child's peak resident set size (``VmHWM`` of /proc/self/status, which
starts afresh at exec, unlike ``ru_maxrss``, which a child inherits from a
large parent) beside a child that only imports the package, so the engine's
own share is visible.

    python -m bench.memory [--minutes 10,40] [--scenario concession]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fusion.sim import simulate

_PEAK = """
def peak_kib():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

_REPLAY = _PEAK + """
import json, sys, time
from fusion.engine import Engine
from fusion.recording import Recording
rec = Recording(sys.argv[1])
t0 = time.process_time()
eng = Engine(rec.store)
n = 0
for item in rec.stream():
    eng.feed(item)
eng.finish()
cpu = time.process_time() - t0
print(json.dumps({"peak_kib": peak_kib(),
                  "store_s": eng.now, "cpu_s": cpu, "receipts": len(eng.receipts())}))
"""

_IMPORT_ONLY = _PEAK + """
import json
import fusion.engine, fusion.recording
print(json.dumps({"peak_kib": peak_kib()}))
"""


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 1e6


def run(minutes: list[float], scenario: str, workdir: Path) -> list[dict]:
    rows = [{"what": "import only", **_child(_IMPORT_ONLY)}]
    for m in minutes:
        out = workdir / f"{scenario}-{m:g}min"
        t0 = time.perf_counter()
        simulate(scenario, 0, out, duration_s=60.0 * m)
        sim_s = time.perf_counter() - t0
        r = _child(_REPLAY, str(out))
        rows.append({"what": f"{scenario}, {m:g} min", "files_mb": _size_mb(out), "sim_s": sim_s, **r})
        print(f"  {scenario} {m:g} min: peak {r['peak_kib'] / 1024:.0f} MiB, "
              f"store {r['store_s']:.0f} s, cpu {r['cpu_s']:.1f} s", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    base = rows[0]["peak_kib"]
    first = rows[1]["peak_kib"] if len(rows) > 1 else base
    lines = ["| recording | store time s | files MB | receipts | replay CPU s | x real time "
             "| peak RSS MiB | above import-only MiB | peak / first |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines.append(f"| (import only) | | | | | | {base / 1024:.0f} | 0 | |")
    for r in rows[1:]:
        lines.append(f"| {r['what']} | {r['store_s']:.0f} | {r['files_mb']:.1f} | {r['receipts']} "
                     f"| {r['cpu_s']:.1f} | {r['store_s'] / max(r['cpu_s'], 1e-9):.0f} "
                     f"| {r['peak_kib'] / 1024:.0f} | {(r['peak_kib'] - base) / 1024:.0f} "
                     f"| {r['peak_kib'] / first:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="10,40")
    ap.add_argument("--scenario", default="concession")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sf-mem-") as tmp:
        text = table(run([float(x) for x in args.minutes.split(",")], args.scenario, Path(tmp)))
    print(text)
    return text


if __name__ == "__main__":
    main()

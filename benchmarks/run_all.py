"""Run every benchmark with one command and collect their JSON results.

Each script runs in its own subprocess, one after the other (they would slow each other
down), and writes ``benchmarks/results/<name>.json``; this script then writes
``benchmarks/results/all.json`` with all of them and prints each one's headline figures.
``bench_retrieval.py`` runs with its own default (quick) configuration either way.

Examples::

    python benchmarks/run_all.py            # full runs (about half an hour on 2 cores)
    python benchmarks/run_all.py --quick    # a few minutes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent
# (script, JSON it writes, options it takes from run_all)
SCRIPTS = [
    ("bench_loader.py", "loader.json", ("quick", "limit", "synthetic")),
    ("bench_loader_cpu.py", "loader_cpu.json", ("quick", "limit")),  # its own 128x171 set
    ("bench_train_step.py", "train_step.json", ("quick", "limit", "synthetic")),
    ("bench_end_to_end.py", "end_to_end.json", ("quick", "limit")),
    ("bench_retrieval.py", "retrieval.json", ()),  # its default run is the quick one
    ("bench_reencode.py", "reencode.json", ()),
]


def headline(name: str, data: dict) -> list[str]:
    """The few figures worth a line each."""
    lines = []
    if name == "loader":
        for key, v in data.get("summary", {}).items():
            lines.append(f"{key}: {v['tps']} tuples/s, x{v['x_baseline']} baseline, "
                         f"x{v['x_floor']} floor time")
    elif name == "loader_cpu":
        for r in data.get("results", []):
            ms = r["ms_per_tuple"]
            lines.append(f"{r['dataset']}: {ms['before']['total']:.1f} -> "
                         f"{ms['after']['total']:.1f} CPU ms per paper-size tuple, "
                         f"x{r['ratio_after_over_before']:.2f} (decode "
                         f"{ms['after']['decode']:.1f} ms)")
    elif name == "train_step":
        for r in data.get("compute", []):
            if "error" not in r:
                lines.append(f"{r['size']} {r['arch']} {r['precision']} {r['layout']}: "
                             f"{r['clips_per_s']:.1f} clips/s, "
                             f"{r['peak_memory_bytes'] / 2**20:.0f} MiB")
        d = data.get("data_vs_compute")
        if d:
            lines.append(f"data path vs compute: ratio {d['ratio']:.2f} (target <= 2)")
    elif name == "end_to_end":
        for run in data.get("runs", []):
            lines.append(f"reproduce --profile {run['profile']}: {run['seconds']:.0f} s "
                         f"({'ok' if run['ok'] else 'failed'})")
    elif name == "retrieval":
        for method, m in data.get("methods", {}).items():
            if isinstance(m, dict) and "best_s" in m:
                extra = m.get("extra_bytes")
                lines.append(f"{method}: {m['best_s']:.2f} s"
                             + (f", {extra / 2**20:.0f} MiB extra" if extra else ""))
        if "ratio_ours_to_floor" in data:
            lines.append(f"ours / floor: {data['ratio_ours_to_floor']:.2f} "
                         f"(target <= {data.get('target_ratio_to_floor')})")
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to each script")
    parser.add_argument("--limit", type=int, help="pass --limit N to each script (tiny runs)")
    parser.add_argument("--only", nargs="+", help="script names to run, e.g. loader")
    parser.add_argument("--synthetic", type=Path, help="synthetic data folder to use")
    parser.add_argument("--results", type=Path, default=common.RESULTS,
                        help="folder for the JSON files")
    args = parser.parse_args(argv)
    collected, status = {}, {}
    for script, json_name, takes in SCRIPTS:
        name = json_name.removesuffix(".json")
        if args.only and name not in args.only and script not in args.only:
            continue
        out = args.results / json_name
        cmd = [sys.executable, str(HERE / script), "--out", str(out)]
        cmd += ["--quick"] if args.quick and "quick" in takes else []
        cmd += ["--limit", str(args.limit)] if args.limit and "limit" in takes else []
        if args.synthetic and "synthetic" in takes:
            cmd += ["--synthetic", str(args.synthetic)]
        print(f"\n######## {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.run(cmd, cwd=common.REPO).returncode
        status[name] = {"returncode": code, "seconds": round(time.perf_counter() - t0, 1)}
        if out.exists():
            collected[name] = json.loads(out.read_text(encoding="utf-8"))
    print("\n######## summary")
    for name, data in collected.items():
        print(f"{name} ({status[name]['seconds']} s):")
        for line in headline(name, data):
            print(f"  {line}")
    failed = [n for n, s in status.items() if s["returncode"]]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    result = {"machine": common.machine(), "status": status, "results": collected}
    path = common.write_json("all", result, args.results / "all.json")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    sys.exit(1 if any(s["returncode"] for s in main()["status"].values()) else 0)

"""Benchmark the whole toolkit end to end: wall time of ``vcop-lab reproduce``.

Runs ``python -m vcop_lab reproduce --profile smoke`` (every notebook, headless, on a
freshly generated synthetic set) into a temporary folder and reports the total wall time
and each notebook's time from the run's ``results.json``. ``--teaching`` adds the teaching
profile, which takes tens of minutes on a 2-core CPU; ``--profiles`` picks them by name.

``--repeat 2`` makes each profile's reproduction twice, each from nothing (its own data and
run folders), and reports whether the two ``results.json`` hold the same figures
(:func:`vcop_lab.results.differing_figures`: every notebook's figures and the claims, not
the timings): the same seed on the same machine must give the same numbers.

Examples::

    python benchmarks/bench_end_to_end.py              # smoke profile
    python benchmarks/bench_end_to_end.py --teaching   # smoke, then teaching
    python benchmarks/bench_end_to_end.py --profiles teaching --repeat 2
    python benchmarks/bench_end_to_end.py --quick --limit 1   # only the first notebook
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # puts the repository on sys.path


def run_profile(profile: str, workdir: Path, only: list[str] | None, timeout: float,
                name: str | None = None) -> dict:
    """Time one ``reproduce`` run in ``workdir/name`` (default: the profile's name); the
    synthetic data is generated inside the timed run."""
    out, data, runs = (workdir / (name or profile) / part for part in ("out", "data", "runs"))
    data.mkdir(parents=True, exist_ok=True)  # from nothing: an empty data folder, fresh runs
    cmd = [sys.executable, "-m", "vcop_lab", "reproduce", "--profile", profile,
           "--out", str(out), "--data-root", str(data), "--run-root", str(runs)]
    if only:
        cmd += ["--only", *only]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(common.REPO), os.environ.get("PYTHONPATH")) if p)}
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=common.REPO, env=env, capture_output=True, text=True,
                              timeout=timeout)
        code, tail = done.returncode, (done.stdout + done.stderr).strip().splitlines()[-5:]
    except subprocess.TimeoutExpired:
        code, tail = None, [f"timed out after {timeout:.0f} s"]
    seconds = time.perf_counter() - t0
    notebooks = {}
    results = out / "results.json"
    if results.exists():
        notebooks = json.loads(results.read_text(encoding="utf-8")).get("notebooks", {})
    return {"profile": profile, "seconds": seconds, "returncode": code,
            "ok": code == 0, "notebooks": {name: {"ok": s.get("ok"), "seconds": s.get("seconds")}
                                           for name, s in notebooks.items()},
            "output_tail": tail, "command": " ".join(cmd[1:]), "results": str(results)}


def compare_repeats(profile: str, runs: list[dict]) -> dict:
    """Whether every reproduction of ``runs`` holds the figures of the first."""
    from vcop_lab.results import differing_figures, read_results

    first = read_results(runs[0]["results"])
    differ = {f"run {k + 1}": differing_figures(read_results(run["results"]), first)
              for k, run in enumerate(runs[1:], 1)}
    same = bool(first) and all(run["ok"] for run in runs) and not any(differ.values())
    verdict = (f"{profile}: {len(runs)} reproductions with the same seed: "
               + ("the same figures in results.json" if same else
                  "figures differ: " + "; ".join(f"{k}: {', '.join(v[:8]) or 'failed'}"
                                                 for k, v in differ.items())))
    return {"profile": profile, "identical_figures": same, "differing": differ,
            "verdict": verdict}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teaching", action="store_true",
                        help="also run the teaching profile (tens of minutes)")
    parser.add_argument("--profiles", nargs="+", help="profiles to run, in order (default: "
                        "smoke, and teaching with --teaching)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="reproductions per profile, each from nothing; with 2 or more, "
                        "whether they agree on every figure")
    parser.add_argument("--quick", action="store_true", help="same as the default (smoke)")
    parser.add_argument("--limit", type=int, help="run only the first N notebooks")
    parser.add_argument("--workdir", type=Path, help="where runs go (default: a temp folder)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per profile")
    parser.add_argument("--out", type=Path, help="JSON path (default results/end_to_end.json)")
    args = parser.parse_args(argv)
    from vcop_lab.reproduce import notebook_paths

    only = [p.name[:2] for p in notebook_paths()[: args.limit]] if args.limit else None
    profiles = args.profiles or ["smoke"] + (["teaching"] if args.teaching else [])
    load_before = list(os.getloadavg())
    runs, repeats = [], []
    with tempfile.TemporaryDirectory(prefix="vcop_e2e_") as tmp:
        workdir = args.workdir or Path(tmp)
        for profile in profiles:
            done = []
            for k in range(args.repeat):
                print(f"running reproduce --profile {profile} ({k + 1} of {args.repeat}) ...",
                      flush=True)
                name = profile if args.repeat == 1 else f"{profile}-{k + 1}"
                run = run_profile(profile, workdir, only, args.timeout, name)
                runs.append(run)
                done.append(run)
                print(f"{profile}: {run['seconds']:.1f} s, "
                      f"{'ok' if run['ok'] else 'FAILED: ' + ' | '.join(run['output_tail'])}")
                for nb_name, nb in run["notebooks"].items():
                    print(f"  {nb_name:32s} {nb['seconds']:>7} s  "
                          f"{'ok' if nb['ok'] else 'FAILED'}")
            if len(done) > 1:
                repeats.append(compare_repeats(profile, done))
                print(repeats[-1]["verdict"])
    note = common.load_note(load_before, list(os.getloadavg()))
    print(note)
    result = {"benchmark": "end_to_end", "config": {"profiles": profiles, "only": only},
              "machine": common.machine(), "load_note": note, "runs": runs,
              "repeats": repeats}
    path = common.write_json("end_to_end", result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()

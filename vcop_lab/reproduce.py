"""Batch reproduction: run the numbered notebooks in order with papermill, then the report.

Each notebook gets the profile (and data root, run root, results file, device) through its
cell tagged ``parameters``. The executed notebooks and an HTML copy of each go to ``out``;
``out/results.json`` holds every notebook's named figures, under ``notebooks`` whether each
ran and how long it took, under ``runs`` every training run with its minutes, under
``claims`` the verdict on each of the paper's claims, and under ``run`` the environment.
Last, ``out/report.html`` shows it all on one page (:mod:`vcop_lab.report`).

A notebook that finished earlier with the same parameters and source is skipped, and every
run it trained is reused through the run contract, so a reproduction that was killed part-way
goes on where it stopped. A failing notebook is named with its failing cell and the error;
the others still run. One line per notebook says where the reproduction stands. The kernel
is driven through :class:`~vcop_lab.kernel_client.SlicedKernelManager`, which reads a reply
whose wake-up was lost (it happens in cells that show ipywidgets) within a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

from vcop_lab.claims import check_claims
from vcop_lab.errors import SettingsError
from vcop_lab.paths import dataset_dirs, default_data_root, default_runs_root, notebooks_dir
from vcop_lab.profiles import get_profile
from vcop_lab.report import build_report
from vcop_lab.results import read_results, record, replace_section
from vcop_lab.runs import RUN_LOG_ENV, used_runs

# Minutes each notebook took in a measured reproduction on a 2-core laptop CPU, from nothing
# (benchmarks/bench_end_to_end.py measures them again); the progress lines estimate from them
# until this folder has timings of its own.
EXPECTED_MINUTES = {
    "smoke": {"00": 0.2, "01": 0.1, "02": 0.3, "03": 0.3, "04": 0.3, "05": 0.4, "06": 0.3},
    "teaching": {"00": 0.1, "01": 0.1, "02": 6.8, "03": 4.1, "04": 1.7, "05": 6.3, "06": 2.2},
    # 00-02 measured; 03-06 estimated from the per-run costs of the teaching runs
    "teaching-full": {"00": 0.1, "01": 0.1, "02": 30.0, "03": 11, "04": 8, "05": 55,
                      "06": 2.2},
}
# Seconds a cell may run before it counts as failed. At smoke size every cell takes seconds,
# so a stalled kernel connection fails the run instead of hanging it; teaching and paper cells
# train for as long as their budgets say.
CELL_TIMEOUT = {"smoke": 600}
# The kernel runs on this machine's loopback only; its start-up warning about unencrypted TCP
# would otherwise interleave with the progress lines of every notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in order, optionally only some prefixes."""
    paths = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in only)]
    return paths


def _failed_cell(target: Path) -> int | None:
    """The cell that failed or was running in an executed notebook, numbered as its
    execution count would be (the injected parameters cell counts). papermill marks a failed
    cell; a cell during which the kernel died has started but has no execution count."""
    import nbformat

    try:
        nb = nbformat.read(target, as_version=4)
    except Exception:  # no notebook was written
        return None
    last, started = 0, None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        mark = cell.get("metadata", {}).get("papermill", {})
        number = cell.get("execution_count") or last + 1
        if mark.get("status") in ("failed", "running") or (
                mark.get("start_time") and cell.get("execution_count") is None):
            return number
        if mark.get("start_time"):
            # A kernel that dies after announcing the cell leaves it counted and marked
            # completed: cells run in order, so the last one started is where it died.
            started = number
        last = cell.get("execution_count") or last
    return started


def _failure(exc: Exception, target: Path) -> dict:
    cell = getattr(exc, "exec_count", None) or _failed_cell(target)
    name = getattr(exc, "ename", type(exc).__name__)
    message = str(getattr(exc, "evalue", exc))
    if name == "DeadKernelError":
        message = ("the kernel died (it was killed, or ran out of memory) while running this "
                   "cell")
    return {"ok": False, "failed_cell": cell, "error": name,
            "message": message.splitlines()[0][:300] if message else ""}


def to_html(notebook: Path) -> Path:
    """Write an HTML copy next to an executed notebook."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    html = notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def environment() -> dict:
    """Versions and machine a reproduction ran with (recorded in ``results.json``)."""
    from vcop_lab.data.video import available_backends

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    import torch

    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "torchvision": version("torchvision"), "av (PyAV)": version("av"),
            "decord": version("decord"), "numpy": version("numpy"),
            "video backends": ", ".join(available_backends()),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _key(notebook: Path, params: dict) -> str:
    """What a finished notebook's outputs depend on: its source and its parameters."""
    h = hashlib.sha256(notebook.read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _expected(prof_name: str, previous: dict, paths: list[Path]) -> dict[str, float]:
    """Expected minutes per notebook: this folder's last timings, else the profile's."""
    table = EXPECTED_MINUTES.get(prof_name, EXPECTED_MINUTES["teaching"])
    done = previous.get("notebooks", {})
    return {p.name: (done[p.name]["seconds"] / 60 if p.name in done
                     and done[p.name].get("ok") and not done[p.name].get("skipped")
                     else table.get(p.name[:2], 1.0)) for p in paths}


def reproduce(out: str | Path, profile: str = "teaching", data_root: str | Path | None = None,
              only: list[str] | None = None, device: str = "auto", kernel: str = "python3",
              progress: bool = True, parameters: dict | None = None,
              cell_timeout: float | None = None, run_root: str | Path | None = None,
              datasets: dict | None = None) -> dict:
    """Run the notebooks, check the claims, write the report; returns ``{"ok": all passed,
    "notebooks": {name: status}, "results": results.json, "report": path}``.

    Data and runs go where the notebooks find them when opened in JupyterLab: ``data_root``
    and ``run_root`` default to ``data/`` and ``runs/`` of the toolkit's home
    (:func:`vcop_lab.paths.home`). ``parameters`` adds notebook parameters (e.g.
    ``{"REAL_CLIPS": "/data/clips"}``); a notebook ignores the ones it does not declare.
    ``datasets`` maps roles (``main``, ``second``, ``qa``) to prepared folders, passed to
    every notebook as ``DATASETS``; a role left out is the synthetic set, and the report says
    which data each table came from.
    ``cell_timeout`` (seconds) fails a cell that runs longer; by default only at the smoke
    profile (:data:`CELL_TIMEOUT`).
    """
    import papermill

    from vcop_lab.kernel_client import SlicedKernelManager

    prof = get_profile(profile)
    timeout = cell_timeout or CELL_TIMEOUT.get(prof.name)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    previous = read_results(results)
    run_root = Path(run_root).resolve() if run_root else default_runs_root()
    if data_root is None:  # the default place is made here; a given one must exist
        data_root = default_data_root()
        data_root.mkdir(parents=True, exist_ok=True)
    # checked (and the synthetic set made, for the roles left out) before any notebook runs
    dirs, sources = dataset_dirs(prof, datasets, data_root, progress=progress)
    params = {"PROFILE": prof.name, "DATA_ROOT": str(Path(data_root).resolve()),
              "RUN_ROOT": str(run_root), "RESULTS": str(results), "DEVICE": device,
              **(parameters or {})}
    if datasets:
        params["DATASETS"] = {role: str(dirs[role]) for role in datasets}
    paths = notebook_paths(only)
    if not paths:
        names = ", ".join(p.name for p in notebook_paths())
        raise SettingsError(f"no notebook matches --only {' '.join(only or [])}",
                            fix=f"pass prefixes of the notebooks: {names}")
    record(results, "run", {"profile": prof.name, "device": device, "parameters": params,
                            "datasets": sources,
                            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                            "environment": environment(), "profile_settings": prof.to_dict()})
    expected = _expected(prof.name, previous, paths)
    run_log = out / "runs_used.jsonl"  # every run the notebooks train or reuse (runs.py)
    if not any(before.get("ok") for before in previous.get("notebooks", {}).values()):
        run_log.unlink(missing_ok=True)
    earlier_log = os.environ.get(RUN_LOG_ENV)
    os.environ[RUN_LOG_ENV] = str(run_log)  # the kernels inherit it
    statuses, t_start = {}, time.perf_counter()
    try:
        for n, nb in enumerate(paths, start=1):
            target, key = out / nb.name, _key(nb, params)
            before = previous.get("notebooks", {}).get(nb.name, {})
            left = sum(expected[p.name] for p in paths[n - 1:])
            if before.get("ok") and before.get("key") == key and target.exists():
                statuses[nb.name] = {**before, "skipped": "finished earlier with these parameters"}
                print(f"[{n}/{len(paths)}] {nb.name}: finished earlier with these parameters, "
                      "skipped", flush=True)
                continue
            if progress:
                print(f"[{n}/{len(paths)}] {nb.name} ({prof.name} profile): started at "
                      f"{_clock(time.perf_counter() - t_start)}, about {left:.0f} min left",
                      flush=True)
            t0, running = time.perf_counter(), out / f"{nb.stem}.running.ipynb"
            try:
                papermill.execute_notebook(str(nb), str(running), parameters=params,
                                           kernel_name=kernel, cwd=str(nb.parent),
                                           progress_bar=False, execution_timeout=timeout,
                                           kernel_manager_class=SlicedKernelManager,
                                           extra_arguments=KERNEL_ARGUMENTS)
                status = {"ok": True, "key": key}
            except Exception as exc:  # keep going: the other notebooks' outputs are kept
                status = _failure(exc, running)
                replace_section(results, nb.stem, None)  # no figures of an earlier run beside it
                print(f"FAILED {nb.name} at cell {status['failed_cell']}: {status['error']}: "
                      f"{status['message']}", flush=True)
            status["seconds"] = round(time.perf_counter() - t0, 1)
            # an earlier successful output is never replaced by a failed one
            kept = not status["ok"] and before.get("ok") and target.exists()
            written = out / f"{nb.stem}.failed.ipynb" if kept else target
            if running.exists():
                running.replace(written)
                status["html"] = to_html(written).name
                if kept:
                    status["failed_notebook"] = written.name
            statuses[nb.name] = status
            record(results, "notebooks", {nb.name: status})
            if progress:
                left = sum(expected[p.name] for p in paths[n:])
                print(f"[{n}/{len(paths)}] {nb.name}: {'done' if status['ok'] else 'failed'} in "
                      f"{status['seconds'] / 60:.1f} min ({_clock(time.perf_counter() - t_start)} "
                      f"elapsed, about {left:.0f} min left)", flush=True)
    finally:
        if earlier_log is None:
            os.environ.pop(RUN_LOG_ENV, None)
        else:
            os.environ[RUN_LOG_ENV] = earlier_log
    ok = all(s["ok"] for s in statuses.values()) and bool(statuses)
    replace_section(results, "runs", [r for r in used_runs(run_log)
                                      if r["kind"] != "features"])
    replace_section(results, "claims", check_claims(read_results(results)))
    record(results, "run", {"ok": ok, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                            "wall_minutes": round((time.perf_counter() - t_start) / 60, 2)})
    report = build_report(out)
    print(f"{sum(s['ok'] for s in statuses.values())}/{len(statuses)} notebooks ran "
          f"({_clock(time.perf_counter() - t_start)}); results in {results}, report in {report}",
          flush=True)
    return {"ok": ok, "notebooks": statuses, "results": read_results(results),
            "report": report}

"""Batch reproduction: run the numbered notebooks in order with papermill.

Each notebook gets the profile (and data root, run root, results file, device) through its
cell tagged ``parameters``. The executed notebooks and an HTML copy of each go to ``out``;
``out/results.json`` holds every notebook's named figures and, under ``notebooks``, whether
it ran and how long it took. A failing notebook is named with its failing cell and the
error; the others still run and keep their outputs. The kernel is driven through
:class:`~vcop_lab.kernel_client.SlicedKernelManager`, which reads a reply whose wake-up was
lost (it happens in cells that show ipywidgets) within a second instead of at the timeout.
"""

from __future__ import annotations

import time
from pathlib import Path

from vcop_lab.paths import notebooks_dir
from vcop_lab.profiles import get_profile
from vcop_lab.results import read_results, record


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in order, optionally only some prefixes."""
    paths = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in only)]
    return paths


def _failure(exc: Exception) -> dict:
    cell = getattr(exc, "exec_count", None) or getattr(exc, "cell_index", None)
    return {"ok": False, "failed_cell": cell, "error": getattr(exc, "ename", type(exc).__name__),
            "message": str(getattr(exc, "evalue", exc)).splitlines()[0][:300]
            if str(getattr(exc, "evalue", exc)) else ""}


def to_html(notebook: Path) -> Path:
    """Write an HTML copy next to an executed notebook."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    html = notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


# Seconds a cell may run before it counts as failed. At smoke size every cell takes seconds,
# so a stalled kernel connection fails the run instead of hanging it; teaching and paper cells
# train for as long as their budgets say.
CELL_TIMEOUT = {"smoke": 600}


def reproduce(out: str | Path, profile: str = "teaching", data_root: str | Path | None = None,
              only: list[str] | None = None, device: str = "auto", kernel: str = "python3",
              progress: bool = True, parameters: dict | None = None,
              cell_timeout: float | None = None) -> dict:
    """Run the notebooks and return ``{"ok": all passed, "notebooks": {name: status}}``.

    ``parameters`` adds notebook parameters (e.g. ``{"REAL_CLIPS": "/data/clips"}``); a
    notebook ignores the ones it does not declare. ``cell_timeout`` (seconds) fails a cell
    that runs longer; by default only at the smoke profile (:data:`CELL_TIMEOUT`).
    """
    import papermill

    from vcop_lab.kernel_client import SlicedKernelManager

    prof = get_profile(profile)
    timeout = cell_timeout or CELL_TIMEOUT.get(prof.name)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    record(results, "run", {"profile": prof.name, "device": device,
                            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                            "profile_settings": prof.to_dict()})
    params = {"PROFILE": prof.name, "DATA_ROOT": str(Path(data_root).resolve()) if data_root
              else str((out.parent / "data").resolve()), "RUN_ROOT": str(out / "runs"),
              "RESULTS": str(results), "DEVICE": device, **(parameters or {})}
    statuses = {}
    for nb in notebook_paths(only):
        target = out / nb.name
        print(f"running {nb.name} ({prof.name} profile)", flush=True)
        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(str(nb), str(target), parameters=params,
                                       kernel_name=kernel, cwd=str(nb.parent),
                                       progress_bar=progress,
                                       execution_timeout=timeout,
                                       kernel_manager_class=SlicedKernelManager)
            status = {"ok": True}
        except Exception as exc:  # keep going: the other notebooks' outputs are kept
            status = _failure(exc)
            print(f"FAILED {nb.name} at cell {status['failed_cell']}: {status['error']}: "
                  f"{status['message']}", flush=True)
        status["seconds"] = round(time.perf_counter() - t0, 1)
        if target.exists():
            status["html"] = to_html(target).name
        statuses[nb.name] = status
        record(results, "notebooks", {nb.name: status})
    ok = all(s["ok"] for s in statuses.values()) and bool(statuses)
    record(results, "run", {"ok": ok, "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    print(f"{sum(s['ok'] for s in statuses.values())}/{len(statuses)} notebooks ran; "
          f"results in {results}", flush=True)
    return {"ok": ok, "notebooks": statuses, "results": read_results(results)}

"""The notebooks run headless with papermill at the smoke profile, as CI and instructors do."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from conftest import REALDATA, REPO
from nbclient import NotebookClient

from vcop_lab.kernel_hints import HINT
from vcop_lab.notebook import PROFILE_ENV
from vcop_lab.paths import HOME_ENV
from vcop_lab.reproduce import notebook_paths, reproduce
from vcop_lab.results import differing_figures, figures
from vcop_lab.runs import RUN_LOG_ENV, used_runs

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.name for p in NOTEBOOKS]


def _committed(path: Path) -> str:
    """The notebook as git holds it (after the clean filter that strips outputs), or the file
    outside a git checkout."""
    done = subprocess.run(["git", "show", f":{path.relative_to(REPO).as_posix()}"], cwd=REPO,
                          capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_hygiene(path):
    nb = nbformat.read(path, as_version=4)  # as it is now (it may hold outputs)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert "PROFILE" in tagged[0].source
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert len(cell.source.splitlines()) <= 15, cell.source[:80]
            assert "sys.path" not in cell.source and "pip install" not in cell.source
    committed = nbformat.reads(_committed(path), as_version=4)  # as git holds it
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


def test_a_notebook_saved_in_the_lab_is_saved_as_committed():
    """The server's pre-save hook (``run.py lab``) drops what a run adds, byte for byte."""
    from vcop_lab.notebook_files import committed_text, strip_before_save

    path = NOTEBOOKS[1]
    nb = nbformat.reads(_committed(path), as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    code.execution_count = 3
    code.metadata["scrolled"] = True
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    model = {"type": "notebook", "content": nb}
    strip_before_save(model=model, path=path.name, contents_manager=None)
    assert nbformat.writes(model["content"]) + "\n" == committed_text(nb) == _committed(path)


def test_every_notebook_is_paired_with_a_percent_source():
    sources = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
    assert NOTEBOOKS and [p.stem for p in NOTEBOOKS] == [p.stem for p in sources]


def _cells(nb):
    return [(c.cell_type, c.source, "parameters" in c.metadata.get("tags", [])) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_not_drifted_from_its_source(path):
    """The .ipynb holds the cells of its .py; ``python tools/sync_notebooks.py`` rewrites it."""
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"
    source = jupytext.read(path.with_suffix(".py"), fmt="py:percent")
    assert _cells(nb) == _cells(source), f"{path.name} differs from its .py: sync the pair"


@pytest.fixture(scope="module")
def smoke_reproduction(tmp_path_factory):
    """``vcop-lab reproduce --profile smoke`` with nothing but a home: data and runs go to its
    defaults, ``HOME/data`` and ``HOME/runs``, where JupyterLab's notebooks look too."""
    home = tmp_path_factory.mktemp("home")
    extra = {"REAL_CLIPS": str(REALDATA / "videos")} if REALDATA.is_dir() else {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(home))
        return reproduce(home / "smoke", profile="smoke", progress=False,
                         parameters=extra), home / "smoke"


@pytest.mark.slow
def test_all_notebooks_run_at_smoke_profile(smoke_reproduction):
    result, out = smoke_reproduction
    failed = {k: v for k, v in result["notebooks"].items() if not v["ok"]}
    assert not failed, failed
    assert [p.name for p in notebook_paths()] == list(result["notebooks"])
    for name in result["notebooks"]:
        assert (out / name).exists() and (out / name).with_suffix(".html").exists()
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["ok"] is True and results["run"]["profile"] == "smoke"
    for nb in result["notebooks"]:
        assert nb[:-6] in results, f"{nb} recorded no results"


@pytest.mark.slow
def test_the_reproduction_ends_with_claims_and_a_report(smoke_reproduction):
    result, out = smoke_reproduction
    claims = result["results"]["claims"]
    assert sorted(claims) == list("abcdefghi")
    for cid, claim in claims.items():  # every notebook ran: every claim has a verdict
        assert claim["held"] in (True, False), (cid, claim["sentence"])
        assert claim["sentence"] and claim["paper"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert result["report"] == out / "report.html"
    assert all(f"<b>({cid})</b>" in page for cid in claims)
    assert "data:image/png;base64," in page and "Table VI" in page
    assert result["results"]["runs"] and "environment" in result["results"]["run"]


@pytest.mark.slow
def test_a_killed_reproduction_goes_on_and_repeats_the_figures(smoke_reproduction, capsys,
                                                                tmp_path_factory):
    first, _ = smoke_reproduction
    out = tmp_path_factory.mktemp("again") / "smoke"
    data = first["results"]["run"]["parameters"]["DATA_ROOT"]
    extra = {"REAL_CLIPS": str(REALDATA / "videos")} if REALDATA.is_dir() else {}
    # stopped after notebook 02 (as a kill would leave it), then run again in full
    runs = out.parent / "runs"  # fresh runs, not those of the first reproduction
    part = reproduce(out, profile="smoke", data_root=data, only=["00", "01", "02"],
                     parameters=extra, run_root=runs)
    assert part["ok"] and list(part["notebooks"]) == NAMES[:3]
    capsys.readouterr()
    whole = reproduce(out, profile="smoke", data_root=data, parameters=extra, run_root=runs)
    printed = capsys.readouterr().out
    assert whole["ok"]
    assert all(whole["notebooks"][n].get("skipped") for n in NAMES[:3])
    assert not any(whole["notebooks"][n].get("skipped") for n in NAMES[3:])
    assert f"[4/{len(NAMES)}] {NAMES[3]}" in printed and "min left" in printed
    # fresh runs in another folder, same profile and seed: the same figures as the first run
    assert figures(whole["results"]) == figures(first["results"]), \
        differing_figures(whole["results"], first["results"])


@pytest.mark.slow
def test_jupyterlab_after_the_batch_run_reuses_its_runs(smoke_reproduction, tmp_path,
                                                        monkeypatch):
    """A student's sequence: the batch reproduction, then the notebooks opened as they are
    (parameters untouched) in a kernel started from another folder: nothing is trained."""
    _, out = smoke_reproduction
    monkeypatch.setenv(HOME_ENV, str(out.parent))
    monkeypatch.setenv(PROFILE_ENV, "smoke")  # what ``python3 run.py lab --profile smoke`` sets
    log = tmp_path / "runs_used.jsonl"
    monkeypatch.setenv(RUN_LOG_ENV, str(log))
    for name in ("02_pretraining.ipynb", "05_finetuning.ipynb"):
        nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    used = used_runs(log)
    assert {u["kind"] for u in used} >= {"order", "action"}
    assert all(u["reused"] for u in used), [u["name"] for u in used if not u["reused"]]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_running_a_cell_before_the_set_up_says_which_cells_to_run(tmp_path):
    """After a kernel restart, a later cell's NameError is followed by the hint."""
    nb = nbformat.read(REPO / "notebooks" / "01_clip_shuffling.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "notebook.start" in code[1].source  # parameters, set-up, then the later cells
    nb.cells = [code[2]]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--ext=vcop_lab.kernel_hints"])
    client.execute()
    text = "".join(o.get("text", "") + "".join(o.get("traceback", []))
                   for o in nb.cells[0].outputs)
    assert "NameError" in text and HINT in text


def test_setup_loads_the_hint_in_every_kernel_of_the_environment():
    spec = importlib.util.spec_from_file_location("run_py", REPO / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    if Path(sys.prefix).resolve() != run.VENV.resolve():
        pytest.skip("tests run outside run.py's environment, which run.py setup configures")
    assert run.KERNEL_CONFIG.read_text() == run.KERNEL_CONFIG_TEXT
    assert "vcop_lab.kernel_hints" in run.KERNEL_CONFIG_TEXT


def _write_notebook(path, *sources: str) -> None:
    """A python3 notebook: a ``parameters`` cell, then one code cell per source."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("PROFILE = 'x'", metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(src) for src in sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.mark.slow
def test_failing_notebook_is_named_with_its_cell(tmp_path, monkeypatch):
    nbdir = tmp_path / "nbs"
    _write_notebook(nbdir / "00_bad.ipynb", "x = 1", "raise ValueError('broken on purpose')")
    _write_notebook(nbdir / "01_good.ipynb", "print('fine')")
    monkeypatch.setenv("VCOP_LAB_NOTEBOOKS", str(nbdir))
    result = reproduce(tmp_path / "out", profile="smoke", progress=False)
    assert result["ok"] is False
    bad_status = result["notebooks"]["00_bad.ipynb"]
    assert bad_status["ok"] is False and bad_status["error"] == "ValueError"
    # counted as in the executed notebook, where papermill inserts the injected parameters
    assert bad_status["failed_cell"] == 4 and "broken on purpose" in bad_status["message"]
    assert result["notebooks"]["01_good.ipynb"]["ok"] is True
    assert (tmp_path / "out" / "00_bad.ipynb").exists()


def test_stalled_cell_fails_after_the_cell_timeout(tmp_path, monkeypatch):
    nbdir = tmp_path / "nbs"
    _write_notebook(nbdir / "00_slow.ipynb", "import time\ntime.sleep(120)")
    monkeypatch.setenv("VCOP_LAB_NOTEBOOKS", str(nbdir))
    result = reproduce(tmp_path / "out", profile="smoke", progress=False, cell_timeout=3)
    status = result["notebooks"]["00_slow.ipynb"]
    assert result["ok"] is False and status["ok"] is False
    assert status["seconds"] < 60


@pytest.mark.slow
def test_kernel_death_is_named_and_a_failed_rerun_keeps_what_finished(tmp_path, monkeypatch):
    nbdir, out = tmp_path / "nbs", tmp_path / "out"
    _write_notebook(nbdir / "00_fine.ipynb", "from vcop_lab.results import record\n"
                    "record(RESULTS, '00_fine', {'x': 1})")
    monkeypatch.setenv("VCOP_LAB_NOTEBOOKS", str(nbdir))
    assert reproduce(out, profile="smoke", progress=False)["ok"]
    kept = (out / "00_fine.ipynb").read_bytes()
    _write_notebook(nbdir / "00_fine.ipynb", "import os\nos._exit(1)  # the kernel dies")
    again = reproduce(out, profile="smoke", progress=False)
    status = again["notebooks"]["00_fine.ipynb"]
    assert status["ok"] is False and status["error"] == "DeadKernelError"
    assert status["failed_cell"] is not None and "kernel died" in status["message"]
    # the earlier successful output is kept; the failed one sits beside it
    assert (out / "00_fine.ipynb").read_bytes() == kept
    assert (out / status["failed_notebook"]).exists()
    assert "00_fine" not in again["results"]  # no earlier figures beside ok: false


def test_a_kernel_that_died_after_announcing_its_cell_is_named_at_that_cell(tmp_path):
    """The kernel may die after nbclient counted the cell, which papermill then marks
    completed: the last cell started is the one named."""
    from vcop_lab.reproduce import _failed_cell

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("PROFILE = 'smoke'"),
                nbformat.v4.new_markdown_cell("narration"),
                nbformat.v4.new_code_cell("import os\nos._exit(1)"),
                nbformat.v4.new_code_cell("print('never')")]
    for cell, count in ((nb.cells[0], 1), (nb.cells[2], 2)):
        cell.execution_count = count
        cell.metadata["papermill"] = {"status": "completed", "start_time": "2026-12-02T00:00"}
    nb.cells[3].metadata["papermill"] = {"status": "pending", "start_time": None}
    path = tmp_path / "dead.ipynb"
    nbformat.write(nb, path)
    assert _failed_cell(path) == 2

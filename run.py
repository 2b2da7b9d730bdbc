#!/usr/bin/env python3
"""The front door: sets up a virtual environment in .venv, then runs a task.

    python3 run.py reproduce [--profile teaching] [--out runs/reproduce-teaching]
    python3 run.py test      [pytest arguments]
    python3 run.py lab       # JupyterLab on notebooks/

Needs only Python 3.10+ with pip and venv. Re-running skips the install when pyproject.toml
has not changed since the last one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("VCOP_LAB_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".vcop-lab-installed"


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        sys.exit(code)


def setup() -> None:
    """Create .venv and install the project with its dev extra, when needed."""
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    marker = (ROOT / "pyproject.toml").read_text()
    if STAMP.exists() and STAMP.read_text() == marker:
        return
    run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-e", ".[dev]")
    STAMP.write_text(marker)


def main(argv: list[str]) -> None:
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if task in ("help", "-h", "--help"):
        print(__doc__)
        return
    setup()
    if task == "setup":
        return
    if task == "test":
        run(PY, "-m", "ruff", "check", "vcop_lab", "tests", "benchmarks", "run.py")
        run(PY, "-m", "pytest", *(rest or ["-q"]))
    elif task == "reproduce":
        if "--profile" not in rest:
            rest = ["--profile", "teaching", *rest]
        if "--out" not in rest:
            profile = rest[rest.index("--profile") + 1]
            rest += ["--out", f"runs/reproduce-{profile}"]
        run(BIN / "vcop-lab", "reproduce", *rest)
    elif task == "lab":
        run(BIN / "jupyter", "lab", "notebooks", *rest)
    else:
        sys.exit(f"unknown task {task!r}: use reproduce, test, lab or setup")


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""The front door: sets up a virtual environment in .venv, then runs a task.

    python3 run.py reproduce [--profile teaching] [--out runs/reproduce-teaching]
    python3 run.py test      [pytest arguments]
    python3 run.py lab       [--profile smoke] [--port 8888]   # JupyterLab on notebooks/
    python3 run.py setup     # only the set-up

Needs only Python 3.10+ with pip and venv. Re-running skips the install when pyproject.toml
has not changed since the last one.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("VCOP_LAB_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".vcop-lab-installed"
# Loaded by every kernel of the environment: a NameError in a notebook whose set-up has not
# run in this kernel (after a restart) says which cell to run (vcop_lab/kernel_hints.py).
KERNEL_CONFIG = VENV / "etc" / "ipython" / "ipython_kernel_config.py"
KERNEL_CONFIG_TEXT = 'c.InteractiveShellApp.extensions = ["vcop_lab.kernel_hints"]\n'


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        sys.exit(code)


def setup() -> None:
    """Create .venv and install the project with its dev extra, when needed; let the kernels
    explain an out-of-order run; strip notebook outputs in git (see .gitattributes)."""
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    marker = (ROOT / "pyproject.toml").read_text()
    if not (STAMP.exists() and STAMP.read_text() == marker):
        run(PY, "-m", "pip", "install", "--disable-pip-version-check", "-e", ".[dev]")
        STAMP.write_text(marker)
    if not KERNEL_CONFIG.exists() or KERNEL_CONFIG.read_text() != KERNEL_CONFIG_TEXT:
        KERNEL_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        KERNEL_CONFIG.write_text(KERNEL_CONFIG_TEXT)
    if (ROOT / ".git").exists():  # a clone: notebooks run in JupyterLab stay clean in git
        strip = f'"{PY}" "{ROOT / "tools" / "sync_notebooks.py"}" --strip'
        for key, value in (("clean", strip), ("smudge", "cat")):
            subprocess.call(["git", "config", f"filter.vcop-notebook.{key}", value], cwd=ROOT)


def _free_port(preferred: int = 8888) -> int:
    """``preferred`` when nothing listens there, else a free port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise SystemExit("no free port on 127.0.0.1")


def lab(rest: list[str]) -> None:
    """JupyterLab on the notebooks folder, on this machine only, with a token."""
    env = dict(os.environ)
    if "--profile" in rest:  # the notebooks' PROFILE = None takes it
        i = rest.index("--profile")
        env["VCOP_LAB_PROFILE"] = rest[i + 1]
        rest = rest[:i] + rest[i + 2:]
    port = _free_port(8888)
    if "--port" in rest:
        i = rest.index("--port")
        port, rest = int(rest[i + 1]), rest[:i] + rest[i + 2:]
    token = secrets.token_hex(24)
    cmd = [BIN / "jupyter", "lab", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           f"--IdentityProvider.token={token}",
           # saved as committed (no outputs): running a notebook leaves git status clean
           "--ContentsManager.pre_save_hook=vcop_lab.notebook_files.strip_before_save", *rest]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers and cloud notebooks run as root; JupyterLab refuses that without it.
        print("running as root (as in most containers): passing --allow-root to JupyterLab",
              flush=True)
        cmd.append("--allow-root")
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    print(f"JupyterLab for this machine only, at\n    {url}\nFrom another machine, tunnel "
          f"through SSH: ssh -N -L {port}:127.0.0.1:{port} USER@THIS_HOST, then open the same "
          "address there.", flush=True)
    args = [str(c) for c in cmd]
    if os.name == "posix":  # become JupyterLab: a signal to this process reaches the server
        os.chdir(ROOT)
        os.execve(args[0], args, env)
    sys.exit(subprocess.call(args, cwd=ROOT, env=env))


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
        lab(rest)
    else:
        sys.exit(f"unknown task {task!r}: use reproduce, test, lab or setup")


if __name__ == "__main__":
    main(sys.argv[1:])

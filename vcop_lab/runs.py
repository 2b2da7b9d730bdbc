"""The run contract: train a run, or reuse it when it finished with the same settings.

A run folder holds ``run.json`` (the settings it was started with, written before any work)
and, once it has finished, ``metrics.json`` (written last, atomically). :func:`run_or_reuse`
is the one place that decides what happens to a folder:

- empty or absent: the run starts;
- the same settings, finished: its metrics are read back (nothing is trained);
- the same settings, not finished (killed part-way): it resumes from its ``last.pt``;
- other settings: refused with one line saying what differs and the fix, unless ``force``
  replaces it (or, for derived data such as feature caches, ``on_mismatch="replace"``);
- asked to ``resume`` with more epochs than it has (and nothing else changed): it goes on
  training from its ``last.pt``, as if it had been started with those epochs.

Settings are plain JSON data: every value a result depends on (profile values, the data's
digest, a base checkpoint's content hash, seed, epochs, the code's format version), and none
that it must not depend on (worker count, device, progress bars). Where the toolkit names
the folder itself, :func:`run_dir` derives the name from the settings, so other settings get
another folder and finished work is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from vcop_lab import distributed
from vcop_lab.atomic import check_writable, remove_stale_temps, write_json_atomic
from vcop_lab.errors import SettingsError

SETTINGS_NAME = "run.json"
# When set (vcop-lab reproduce sets it), every run used is noted in this file: one JSON line.
RUN_LOG_ENV = "VCOP_LAB_RUN_LOG"
METRICS_NAME = "metrics.json"
# Files a run may write; --force removes these, never anything else in the folder.
RUN_FILES = (SETTINGS_NAME, METRICS_NAME, "best.pt", "last.pt", "history.json")
# Settings shown in a run folder's name, in this order, when present, with their prefixes.
_NAME_KEYS = (("dataset", ""), ("arch", ""), ("setting", ""), ("source", ""), ("init", "init-"),
              ("freeze", "freeze-"), ("label_fraction", "labels"), ("layer", ""),
              ("seed", "seed"))

class Run(dict):
    """The metrics of a finished run (a dict, as in its ``metrics.json``), with its folder.

    ``run.dir`` is the run folder, ``run.reused`` says whether it was read back instead of
    trained, ``run.checkpoint`` is its ``best.pt``.
    """

    def __init__(self, metrics: Mapping, folder: Path, reused: bool):
        super().__init__(metrics)
        self.dir = Path(folder)
        self.reused = reused

    @property
    def checkpoint(self) -> Path:
        return self.dir / "best.pt"

    def history(self) -> list[dict]:
        """The per-epoch records of ``history.json``."""
        return json.loads((self.dir / "history.json").read_text(encoding="utf-8"))


def settings_digest(settings: Mapping) -> str:
    """Short hex digest of the settings (sorted JSON)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text[:8] if len(text) > 12 else text  # content hashes: their first characters


def run_dir(root: str | Path, settings: Mapping) -> Path:
    """The folder the toolkit gives a run: ``root/<kind>/<readable name>-<digest>``, e.g.
    ``runs/order/r3d-8-4-3-seed0-1a2b3c4d``. Only the settings decide it."""
    parts = []
    for key, prefix in _NAME_KEYS:
        value = settings.get(key)
        if value is not None:
            word = key == "init" and not all(c in "0123456789abcdef" for c in str(value))
            parts.append(str(value) if word else f"{prefix}{_short(value)}")
    name = "-".join(parts + [settings_digest(settings)]).replace("/", "_")
    return Path(root) / str(settings.get("kind", "run")) / name


def output_dir(out: str | Path | None, runs: str | Path | None, settings: Mapping,
               what: str = "run") -> Path:
    """``out`` when given, else the folder :func:`run_dir` names under ``runs``."""
    if out is not None:
        return Path(out)
    if runs is None:
        raise SettingsError(f"a {what} needs an output folder",
                            fix="pass out=RUN_DIR, or runs=ROOT to name it from the settings")
    return run_dir(runs, settings)


def _flatten(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings_difference(stored: Mapping, wanted: Mapping) -> dict[str, tuple]:
    """``{key: (stored, wanted)}`` for every (dotted) key whose value differs."""
    a, b = _flatten(json.loads(json.dumps(stored, default=str))), _flatten(
        json.loads(json.dumps(wanted, default=str)))
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def describe_difference(diff: Mapping[str, tuple], limit: int = 4) -> str:
    """``seed 0 -> 1, epochs 20 -> 10`` (stored -> wanted)."""
    items = [f"{k} {_short(a)} -> {_short(b)}" for k, (a, b) in diff.items()]
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit
                                       else "")


def read_settings(out_dir: str | Path) -> dict | None:
    """The settings a run folder was started with, or None when it holds none."""
    path = Path(out_dir) / SETTINGS_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finished_metrics(out_dir: str | Path) -> dict | None:
    """The ``metrics.json`` of a finished run, or None."""
    try:
        return json.loads((Path(out_dir) / METRICS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def clear_run(out_dir: str | Path) -> None:
    """Remove the files of a run (and only those) from ``out_dir``."""
    out_dir = Path(out_dir)
    for name in RUN_FILES:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def _extends(stored: Mapping | None, settings: Mapping, out_dir: Path) -> bool:
    """Whether ``settings`` only asks for more epochs of the run in ``out_dir``."""
    if stored is None or not (out_dir / "last.pt").exists():
        return False
    diff = settings_difference(stored, settings)
    return set(diff) == {"epochs"} and all(isinstance(v, int) for v in diff["epochs"]) \
        and diff["epochs"][1] > diff["epochs"][0]


def run_or_reuse(out_dir: str | Path, settings: Mapping, fn: Callable[[bool], Mapping],
                 *, resume: bool = False, force: bool = False, on_mismatch: str = "refuse",
                 progress: bool = True, what: str = "run") -> Run:
    """Run ``fn(resume)`` into ``out_dir`` unless a finished run with ``settings`` is there.

    ``fn`` trains (continuing from ``last.pt`` when ``resume`` is true) and returns the
    metrics, which are written to ``metrics.json`` with the settings. An unfinished run of
    the same settings is always resumed; ``resume`` also lets a run continue to more epochs.
    ``force`` replaces a run of other settings; ``on_mismatch="replace"`` does so without
    being asked (for derived data that is cheap to rebuild). Returns the :class:`Run`.
    """
    out_dir = Path(out_dir)
    settings = json.loads(json.dumps(settings, default=str))  # as it reads back from disk
    check_writable(out_dir, folder=True)  # before any work: a file, a read-only place
    remove_stale_temps(out_dir)
    stored = read_settings(out_dir)
    finished = finished_metrics(out_dir)
    occupied = stored is not None or finished is not None or (out_dir / "last.pt").exists()
    if resume and _extends(stored, settings, out_dir):
        stored, finished = settings, None
        if distributed.is_main():
            (out_dir / METRICS_NAME).unlink(missing_ok=True)
    elif occupied and stored != settings:
        if not (force or on_mismatch == "replace"):
            if stored is None:
                problem = "holds a run whose settings were not recorded"
            else:
                state = "finished" if finished is not None else "unfinished"
                problem = (f"holds a {state} {what} with other settings "
                           f"({describe_difference(settings_difference(stored, settings))})")
            raise SettingsError(problem, out_dir,
                                "choose another output folder (--out), or pass --force to "
                                "replace it")
        if distributed.is_main():
            clear_run(out_dir)
        distributed.barrier()
        stored = finished = None
    if finished is not None:
        if progress:
            print(f"reusing the finished {what} in {out_dir}", flush=True)
        _note_use(out_dir, settings, reused=True)
        return Run(finished, out_dir, reused=True)
    resume = stored is not None and (out_dir / "last.pt").exists()
    if distributed.is_main():
        if progress and resume:
            print(f"resuming the unfinished {what} in {out_dir}", flush=True)
        write_json_atomic(out_dir / SETTINGS_NAME, {
            "settings": settings, "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    metrics = fn(resume)
    if not metrics:  # a non-zero rank of a distributed run writes nothing
        return Run({}, out_dir, reused=False)
    metrics = json.loads(json.dumps({**metrics, "settings": settings}, default=str))
    write_json_atomic(out_dir / METRICS_NAME, metrics)
    _note_use(out_dir, settings, reused=False)
    return Run(metrics, out_dir, reused=False)


def _note_use(out_dir: Path, settings: Mapping, reused: bool) -> None:
    log = os.environ.get(RUN_LOG_ENV)
    if log and distributed.is_main():
        line = json.dumps({"dir": str(out_dir.resolve()), "kind": settings.get("kind"),
                           "reused": reused})
        with open(log, "a", encoding="utf-8") as f:  # one short write: atomic in append mode
            f.write(line + "\n")


def used_runs(log: str | Path) -> list[dict]:
    """The runs noted in a run log (see :data:`RUN_LOG_ENV`), once each, in first use order,
    with the minutes and epochs their ``metrics.json`` records."""
    seen: dict[str, dict] = {}
    try:
        lines = Path(log).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry["dir"] in seen:
            seen[entry["dir"]]["reused"] = seen[entry["dir"]]["reused"] and entry["reused"]
            continue
        m = finished_metrics(entry["dir"]) or {}
        seen[entry["dir"]] = {
            "name": Path(entry["dir"]).name, "kind": entry["kind"], "reused": entry["reused"],
            "minutes": m.get("wall_minutes") or (m.get("minutes") or {}).get("total"),
            "epochs_run": m.get("epochs_run", m.get("epochs")),
            "stopped_by_clock": bool(m.get("stopped_by_budget")),
            "videos_left_out": _videos_left_out(m)}
    return list(seen.values())


def _videos_left_out(metrics: dict) -> int | None:
    """Bad videos a run left out before it started or skipped while reading (None: the run
    does not record them)."""
    videos = metrics.get("videos")
    if not isinstance(videos, dict):
        return None
    return sum((videos.get("left_out") or {}).values()) + videos.get("failed_while_reading", 0)

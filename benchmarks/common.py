"""Helpers shared by the benchmark scripts: paths, machine facts, tables, JSON, data sets.

The scripts are run as files (``python benchmarks/bench_loader.py``), so this module is
imported as ``common`` from the scripts' own folder.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
REALDATA = REPO.parent / "shared" / "realdata"  # third-party clips, read in place
SYNTHETIC_CACHE = Path(tempfile.gettempdir()) / "vcop_lab_bench_synthetic"

if str(REPO) not in sys.path:  # the scripts also run without the package installed
    sys.path.insert(0, str(REPO))


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, load from other work, library versions."""
    import torch

    info = {
        "cpus": os.cpu_count(),
        "load_average_1_5_15min": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "processor": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        import av

        info["pyav"] = av.__version__
    except ImportError:
        pass
    try:
        import decord

        info["decord"] = decord.__version__
    except Exception:
        pass
    return info


def load_note(before: list[float], after: list[float]) -> str:
    """A line about other work on the machine during a run, from the 1-minute load."""
    cpus = os.cpu_count() or 1
    peak = max(before[0], after[0])
    if peak > 1.2 * cpus:
        return (f"the machine was shared: 1-minute load average {before[0]:.1f} -> "
                f"{after[0]:.1f} on {cpus} cores, so absolute figures are pessimistic")
    return f"1-minute load average {before[0]:.1f} -> {after[0]:.1f} on {cpus} cores"


def write_json(name: str, data: dict, out: str | Path | None = None) -> Path:
    """Write ``data`` to ``out`` or ``benchmarks/results/<name>.json``; return the path."""
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A plain-text table: ``columns`` are (key, heading, format) like ("tps", "tuples/s",
    "{:.1f}"); missing values print as "-"."""
    head = [heading for _, heading, _ in columns]
    body = []
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("-" if value is None else fmt.format(value))
        body.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                        enumerate(zip(cells, widths))) for cells in body]
    return "\n".join(lines)


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def real_records(min_frames: int = 1, limit: int | None = None):
    """The real clips of ``../shared/realdata`` as manifest records (root: REALDATA).

    The GIF is left out: decord cannot read it, and both backends must read the same set.
    """
    from vcop_lab.data.manifest import VideoRecord

    listing = REALDATA / "clips.csv"
    if not listing.exists():
        raise SystemExit(f"real clips not found at {REALDATA}: pass --datasets synthetic")
    with open(listing, newline="") as f:
        rows = [r for r in csv.DictReader(f) if not r["path"].endswith(".gif")]
    labels = sorted({r["label"] for r in rows})
    records = [
        VideoRecord(path=r["path"], label=r["label"], label_index=labels.index(r["label"]),
                    split="train", num_frames=int(r["decoded_frames"]), fps=float(r["fps"]),
                    width=int(r["width"]), height=int(r["height"]))
        for r in rows if int(r["decoded_frames"]) >= min_frames
    ]
    return records[:limit] if limit else records


def synthetic_records(folder: str | Path | None, preset: str, limit: int | None = None):
    """(records of the train split, data root) of a synthetic set: ``folder`` when given
    (its ``main`` style, or the folder itself if it holds a manifest), else one generated
    once into the temp folder (``preset``: smoke takes seconds, teaching about 30 s)."""
    from vcop_lab.data.manifest import data_root, load_manifest
    from vcop_lab.data.synthetic import ensure_synthetic

    if folder is None:
        manifest = ensure_synthetic(SYNTHETIC_CACHE / preset, preset=preset,
                                    progress=False)["main"]
    else:
        folder = Path(folder)
        manifest = folder / "manifest.csv"
        if not manifest.exists():
            manifest = folder / "main" / "manifest.csv"
    records = [r for r in load_manifest(manifest) if r.split == "train"]
    return (records[:limit] if limit else records), data_root(manifest.parent)

"""``results.json`` of a batch reproduction: notebooks record their named figures here."""

from __future__ import annotations

import json
from pathlib import Path

from vcop_lab.atomic import write_json_atomic

# The sections that say how a reproduction went (environment, start, seconds, which runs were
# reused) rather than what it measured.
RUN_SECTIONS = ("run", "notebooks", "runs")


def read_results(path: str | Path) -> dict:
    """``results.json`` at ``path`` as a dict (empty when there is none yet)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def record(path: str | Path | None, section: str, values: dict) -> dict:
    """Merge ``values`` into ``section`` of the JSON file at ``path`` (atomically).

    ``path`` None (a notebook run by hand) records nothing and returns ``values``.
    """
    if path is None:
        return values
    path = Path(path)
    data = read_results(path)
    data.setdefault(section, {}).update(json.loads(json.dumps(values, default=str)))
    write_json_atomic(path, data)
    return values


def replace_section(path: str | Path, section: str, values) -> None:
    """Set ``section`` of the JSON file at ``path`` to ``values`` (atomically); None removes
    it."""
    path = Path(path)
    data = read_results(path)
    if values is None:
        data.pop(section, None)
    else:
        data[section] = json.loads(json.dumps(values, default=str))
    write_json_atomic(path, data)


def figures(results: dict) -> dict:
    """What two reproductions with the same profile and seed must agree on: every notebook's
    figures and the claims, without the timings and the record of runs."""
    return {k: v for k, v in results.items() if k not in RUN_SECTIONS}


def differing_figures(a: dict, b: dict) -> list[str]:
    """Paths (``section/key/...``) where the figures of two results differ."""
    return _differing(figures(a), figures(b), "")


def _differing(x, y, path: str) -> list[str]:
    if not (isinstance(x, dict) and isinstance(y, dict)):
        return [] if x == y else [path.rstrip("/")]
    return [p for key in sorted(set(x) | set(y), key=str)
            for p in _differing(x.get(key), y.get(key), f"{path}{key}/")]

"""``results.json`` of a batch reproduction: notebooks record their named figures here."""

from __future__ import annotations

import json
from pathlib import Path

from vcop_lab.atomic import write_json_atomic


def read_results(path: str | Path) -> dict:
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

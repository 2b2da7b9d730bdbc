"""Write each notebook ``notebooks/NN_name.ipynb`` from its percent source ``NN_name.py``.

    python tools/sync_notebooks.py            # regenerate every .ipynb from its .py
    python tools/sync_notebooks.py --check    # exit 1 when an .ipynb is not what its .py gives
    python tools/sync_notebooks.py notebooks/04_layerwise_retrieval.py   # only some
    python tools/sync_notebooks.py --strip < executed.ipynb   # git's clean filter (see below)

The ``.py`` (jupytext ``py:percent``) is the source; it is never written here. The ``.ipynb`` gets
its cells, no outputs or execution counts, the ``python3`` kernel and the jupytext pairing. A cell
keeps the id it has in the current ``.ipynb`` (matched the way jupytext matches cells when it
syncs a pair); a new cell gets an id made from its notebook, place and source, so the result
depends on the files only.

``--strip`` turns a notebook read from standard input into what is committed (no outputs,
counts, widget state or editor metadata). ``python3 run.py setup`` makes it git's clean filter
for ``notebooks/*.ipynb`` (``.gitattributes``), so a notebook run in JupyterLab does not show
as changed in ``git status``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.combine import map_outputs_to_inputs

from vcop_lab.notebook_files import FORMATS, KERNEL, NEW_CELL, committed_text

NB = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_text(py: Path) -> str:
    """The .ipynb text that ``py`` gives, keeping the cell ids of the .ipynb beside it."""
    source = jupytext.read(py, fmt="py:percent")
    ipynb = py.with_suffix(".ipynb")
    ids: list[str | None] = [None] * len(source.cells)
    if ipynb.exists():
        old = nbformat.read(ipynb, as_version=4)
        for i, j in enumerate(map_outputs_to_inputs(source.cells, old.cells)):
            if j is not None:
                ids[i] = old.cells[j].get("id")
    used = {i for i in ids if i}
    cells = []
    for n, (cell, cell_id) in enumerate(zip(source.cells, ids)):
        if not cell_id:
            key = f"{py.stem}:{n}:{cell.cell_type}:{cell.source}"
            while not cell_id or cell_id in used:
                key += "+"
                cell_id = f"{py.stem[:2]}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
            used.add(cell_id)
        cells.append(NEW_CELL[cell.cell_type](cell.source, metadata=dict(cell.metadata),
                                              id=cell_id))
    metadata = dict(source.metadata)
    pairing = {k: v for k, v in metadata.get("jupytext", {}).items() if k != "text_representation"}
    metadata.update(jupytext={**pairing, "formats": FORMATS}, kernelspec=KERNEL,
                    language_info={"name": "python"})
    text = nbformat.writes(nbformat.v4.new_notebook(cells=cells, metadata=metadata))
    return text if text.endswith("\n") else text + "\n"


def stripped_text(text: str) -> str:
    """An .ipynb as it is committed (:func:`vcop_lab.notebook_files.committed_notebook`)."""
    return committed_text(nbformat.reads(text, as_version=4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help=".py or .ipynb (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on drift")
    parser.add_argument("--strip", action="store_true",
                        help="read a notebook on stdin, write its committed form to stdout")
    args = parser.parse_args(argv)
    if args.strip:
        sys.stdout.write(stripped_text(sys.stdin.read()))
        return 0
    stems = sorted({p.stem for p in args.paths} or
                   {p.stem for p in NB.glob("[0-9][0-9]_*.*") if p.suffix in (".py", ".ipynb")})
    problems = 0
    for stem in stems:
        py, ipynb = NB / f"{stem}.py", NB / f"{stem}.ipynb"
        if not py.exists():
            print(f"{ipynb.name} has no source {py.name} (jupytext --set-formats {FORMATS} "
                  f"{ipynb.relative_to(NB.parent)} makes one)", file=sys.stderr)
            problems += 1
            continue
        text = notebook_text(py)
        # a notebook run in JupyterLab keeps its outputs: only its cells are compared
        if ipynb.exists() and stripped_text(ipynb.read_text(encoding="utf8")) == text:
            continue
        if args.check:
            print(f"{ipynb.name} differs from what {py.name} gives", file=sys.stderr)
            problems += 1
            continue
        ipynb.write_text(text, encoding="utf8")
        os.utime(py)  # as jupytext --sync does: the source is not older than its notebook
        print("wrote", ipynb.relative_to(NB.parent))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

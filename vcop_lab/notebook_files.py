"""The notebooks as files: what a notebook looks like when it is committed.

A committed notebook holds its cells (sources, ids, tags), the ``python3`` kernel and the
jupytext pairing with its ``.py`` source, and nothing a run adds: no outputs, execution
counts, widget state or editor metadata. :func:`committed_notebook` makes that form;
``tools/sync_notebooks.py`` writes it (and is git's clean filter), and
:func:`strip_before_save` makes JupyterLab save it (``python3 run.py lab`` installs it as the
server's ``pre_save_hook``), so a notebook run in the lab leaves ``git status`` clean. The
outputs stay on screen until the notebook is closed; a batch run's executed notebooks are in
its ``--out`` folder.
"""

from __future__ import annotations

import nbformat

FORMATS = "ipynb,py:percent"
# As JupyterLab writes it on saving (ipykernel's kernel of the environment).
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# Cell metadata a committed notebook keeps: its tags, and jupytext's own.
CELL_METADATA = ("tags", "lines_to_next_cell")
NEW_CELL = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell}


def committed_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` as it is committed: cells with their ids, sources and kept metadata only, and
    the notebook metadata its source gives (pairing, kernel, language)."""
    cells = [NEW_CELL[c.cell_type](c.source, id=c.get("id"),
                                   metadata={k: c.metadata[k] for k in CELL_METADATA
                                             if k in c.metadata}) for c in nb.cells]
    pairing = {k: v for k, v in nb.metadata.get("jupytext", {}).items()
               if k != "text_representation"}
    metadata = {"jupytext": {**pairing, "formats": FORMATS}, "kernelspec": KERNEL,
                "language_info": {"name": "python"}}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


def committed_text(nb: nbformat.NotebookNode) -> str:
    """The committed notebook's file text (nbformat's layout, ending with a newline)."""
    out = nbformat.writes(committed_notebook(nb))
    return out if out.endswith("\n") else out + "\n"


def strip_before_save(model: dict, **_) -> None:
    """A Jupyter server ``pre_save_hook``: a paired notebook is saved as it is committed."""
    if model.get("type") != "notebook":
        return
    nb = nbformat.from_dict(model["content"])
    if nb.metadata.get("jupytext", {}).get("formats") == FORMATS:
        model["content"] = committed_notebook(nb)

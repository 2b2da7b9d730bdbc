"""An IPython extension for the notebooks: a name error in a kernel where the notebook's
set-up has not run (after a restart, say) says which cells to run first.

``python3 run.py setup`` loads it in every kernel of the project's environment; elsewhere,
``%load_ext vcop_lab.kernel_hints`` does. It imports nothing heavy: it runs at kernel start.
"""

from __future__ import annotations

SET_UP_NAME = "nb"  # what every notebook's first cell after the parameters defines
HINT = ("This notebook's set-up has not run in this kernel (a restart forgets it): run the "
        "cells from the top first, the parameters cell and the cell after it (Run > Run All "
        "Above Selected Cell), then this one.")


def _explain(shell, etype, value, tb, tb_offset=None):
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    if SET_UP_NAME not in shell.user_ns:
        print(HINT)


def load_ipython_extension(ipython) -> None:
    """Add the hint to every NameError shown in this kernel."""
    ipython.set_custom_exc((NameError,), _explain)

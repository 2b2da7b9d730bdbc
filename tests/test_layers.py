"""The package's layers import downward only, and no modules import each other in a circle.

Every module of ``vcop_lab`` belongs to one layer (the longest prefix in :data:`LAYERS`
decides); a module may import modules of its own layer or of a lower one, never of a higher
one. Imports inside functions count too: a lazy import up a layer is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "vcop_lab"

# Lowest first. A new module must be placed here (the test says so when it is not).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("vcop_lab.errors", "vcop_lab.atomic", "vcop_lab.distributed",
              "vcop_lab.profiles", "vcop_lab.runtime")),
    ("parts", ("vcop_lab.data", "vcop_lab.data.classes", "vcop_lab.models",
               "vcop_lab.checkpoint", "vcop_lab.qa",
               "vcop_lab.qa.activitynet", "vcop_lab.qa.glove", "vcop_lab.qa.synthetic_qa",
               "vcop_lab.viz", "vcop_lab.paths", "vcop_lab.paper")),
    ("engine", ("vcop_lab.train", "vcop_lab.runs", "vcop_lab.evaluate.inference")),
    ("evaluate", ("vcop_lab.evaluate",)),
    ("method", ("vcop_lab.pretrain", "vcop_lab.curriculum", "vcop_lab.finetune",
                "vcop_lab.qa.train", "vcop_lab.qa.run")),
    ("presentation", ("vcop_lab.widgets", "vcop_lab.results", "vcop_lab.claims",
                      "vcop_lab.report", "vcop_lab.notebook")),
    ("faces", ("vcop_lab.cli", "vcop_lab.reproduce", "vcop_lab.kernel_client",
               "vcop_lab.kernel_hints", "vcop_lab.notebook_files",
               "vcop_lab.__main__", "vcop_lab.__init__")),
]


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts)
        if name.endswith(".__init__") and name != "vcop_lab.__init__":
            name = name[: -len(".__init__")]
        mods[name] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The vcop_lab modules that ``name`` imports (resolved to modules of the package)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            while target and target not in mods:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target != name:
                found.add(target)
    return found


def _layer(name: str) -> int | None:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def test_every_module_has_a_layer():
    unplaced = sorted(name for name in _modules() if _layer(name) is None)
    assert not unplaced, f"place these modules in a layer of tests/test_layers.py: {unplaced}"


def test_no_import_runs_up_a_layer():
    mods = _modules()
    upward = []
    for name, path in mods.items():
        mine = _layer(name)
        for target in _imports(name, path, mods):
            theirs = _layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{name} ({LAYERS[mine][0]}) imports {target} "
                              f"({LAYERS[theirs][0]})")
    assert not upward, "\n".join(sorted(upward))


def test_no_circle_of_imports():
    mods = _modules()
    graph = {name: _imports(name, path, mods) for name, path in mods.items()}
    # A package's __init__ re-exports its submodules: only edges between modules count.
    graph = {n: {t for t in ts if mods[t].name != "__init__.py"} for n, ts in graph.items()}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, circles


def test_the_checks_see_a_violation():
    # the layer check is not vacuous: the CLI imports the training code, a step down
    mods = _modules()
    assert "vcop_lab.pretrain" in _imports("vcop_lab.cli", mods["vcop_lab.cli"], mods)
    assert _layer("vcop_lab.cli") > _layer("vcop_lab.pretrain") > _layer("vcop_lab.train")
    assert _layer("vcop_lab.data.video.reader") == _layer("vcop_lab.checkpoint")

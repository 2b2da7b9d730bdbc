"""pyproject.toml and environment.yml stay in step; the README keeps its two commands."""

import re

import tomllib
from conftest import REPO

CONDA_NAMES = {"torch": "pytorch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def _pyproject():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return data["dependencies"], data["optional-dependencies"]["dev"]


def _environment():
    text = (REPO / "environment.yml").read_text()
    lines = text.split("dependencies:", 1)[1].splitlines()
    conda = [ln.strip()[2:] for ln in lines if re.match(r"^  - [a-z]", ln) and
             not ln.strip().endswith(":")]
    pip = [ln.strip()[2:] for ln in lines if re.match(r"^      - ", ln)]
    return conda, pip


def test_every_dependency_is_in_environment_yml_with_the_same_bound():
    deps, dev = _pyproject()
    conda, pip = _environment()
    listed = {_name(x): x for x in conda + pip}
    for req in deps + dev:
        name = _name(req)
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in listed, f"{name} missing from environment.yml"
        bound = re.search(r">=\s*([\w.]+)", req.split(";")[0])
        if bound:
            assert f">={bound.group(1)}" in listed[conda_name], f"{name}: bounds differ"
    extra = set(listed) - {CONDA_NAMES.get(_name(r), _name(r)) for r in deps + dev}
    assert extra <= {"python", "pip", "-e"}, extra


def test_optional_extras_are_named_in_environment_yml_but_not_installed():
    # An extra other than dev (e.g. glove, 76 MB) stays optional: environment.yml names it
    # and its packages in a comment, and installs none of them.
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    optional = {name: reqs for name, reqs in extras.items() if name != "dev"}
    assert "glove" in optional
    text = (REPO / "environment.yml").read_text()
    comments = "\n".join(ln for ln in text.splitlines() if ln.strip().startswith("#"))
    conda, pip = _environment()
    installed = {_name(x) for x in conda + pip}
    for name, reqs in optional.items():
        assert f"{name}:" in comments, f"extra {name} not described in environment.yml"
        for req in reqs:
            assert _name(req) in comments, f"{_name(req)} of extra {name} not named"
            assert _name(req) not in installed, f"optional {_name(req)} installed by default"
    assert f"-e .[dev,{next(iter(optional))}]" not in pip


def test_environment_installs_this_project_with_python_311():
    text = (REPO / "environment.yml").read_text()
    assert "python=3.11" in text and "-e .[dev]" in text


def test_decord_is_optional_on_arm():
    deps, _ = _pyproject()
    decord = [d for d in deps if _name(d) == "decord"]
    assert decord and "platform_machine" in decord[0]


def test_readme_quick_start_has_two_commands():
    text = (REPO / "README.md").read_text()
    block = re.search(r"^#+\s*Quick ?start.*?```[a-z]*\n(.*?)```", text, re.S | re.I | re.M)
    commands = [ln for ln in block.group(1).splitlines()
                if ln.strip() and not ln.strip().startswith("#")]
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1].split("#")[0].strip() in ci

"""The run contract: a finished run is reused only when its settings match, never silently
replaced; folders named from the settings; atomic writes and stale temporary files."""

from __future__ import annotations

import json
import os

import pytest

from vcop_lab.atomic import remove_stale_temps, temp_path, write_json_atomic
from vcop_lab.data.manifest import data_digest
from vcop_lab.errors import SettingsError
from vcop_lab.pretrain import pretrain
from vcop_lab.runs import run_dir, run_or_reuse, settings_difference

SETTINGS = {"kind": "order", "arch": "r3d", "setting": "4-2-3", "seed": 0, "epochs": 2,
            "profile": {"name": "smoke", "lr": 0.001}}


class Trainer:
    """Stands in for a training function: counts its calls, writes a last.pt."""

    def __init__(self, out):
        self.out, self.calls = out, []

    def __call__(self, resume):
        self.calls.append(resume)
        (self.out / "last.pt").write_bytes(b"weights")
        return {"test_order_acc": 0.5, "epochs_run": 2}


def test_a_finished_run_is_reused_only_with_the_same_settings(tmp_path):
    out = tmp_path / "run"
    train = Trainer(out)
    first = run_or_reuse(out, SETTINGS, train, progress=False)
    assert train.calls == [False] and not first.reused and first.dir == out
    assert json.loads((out / "metrics.json").read_text())["settings"] == SETTINGS
    again = run_or_reuse(out, SETTINGS, train, progress=False)
    assert again.reused and train.calls == [False] and again == first

    other = {**SETTINGS, "seed": 1, "profile": {"name": "smoke", "lr": 0.01}}
    with pytest.raises(SettingsError) as err:
        run_or_reuse(out, other, train, progress=False)
    message = str(err.value)
    assert str(out) in message and "other settings" in message
    assert "seed 0 -> 1" in message and "profile.lr 0.001 -> 0.01" in message
    assert "--force" in message and "--out" in message
    assert train.calls == [False]  # refused before any work
    replaced = run_or_reuse(out, other, train, force=True, progress=False)
    assert not replaced.reused and train.calls == [False, False]
    assert json.loads((out / "run.json").read_text())["settings"]["seed"] == 1


def test_an_unfinished_run_resumes_and_may_go_on_to_more_epochs(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    write_json_atomic(out / "run.json", {"settings": SETTINGS})
    (out / "last.pt").write_bytes(b"half")  # killed before metrics.json
    train = Trainer(out)
    run_or_reuse(out, SETTINGS, train, progress=False)
    assert train.calls == [True]
    longer = {**SETTINGS, "epochs": 4}
    with pytest.raises(SettingsError, match="epochs 2 -> 4"):
        run_or_reuse(out, longer, train, progress=False)
    run_or_reuse(out, longer, train, resume=True, progress=False)
    assert train.calls == [True, True]
    with pytest.raises(SettingsError, match="epochs 4 -> 3"):  # fewer epochs: not a resume
        run_or_reuse(out, {**SETTINGS, "epochs": 3}, train, resume=True, progress=False)


def test_unknown_runs_and_files_are_refused(tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "metrics.json").write_text("{}")
    with pytest.raises(SettingsError, match="not recorded"):
        run_or_reuse(legacy, SETTINGS, Trainer(legacy), progress=False)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(SettingsError, match="is a file"):
        run_or_reuse(a_file, SETTINGS, Trainer(tmp_path), progress=False)


def test_folder_names_come_from_the_settings(tmp_path):
    a = run_dir(tmp_path, SETTINGS)
    assert a == run_dir(tmp_path, dict(SETTINGS))
    assert a.parent == tmp_path / "order" and a.name.startswith("r3d-4-2-3-seed0-")
    assert run_dir(tmp_path, {**SETTINGS, "seed": 1}) != a
    assert run_dir(tmp_path, {**SETTINGS, "profile": {"name": "smoke", "lr": 1.0}}) != a
    diff = settings_difference(SETTINGS, {**SETTINGS, "epochs": 3})
    assert diff == {"epochs": (2, 3)}


def test_a_pretraining_run_under_another_seed_is_retrained(synth_smoke, tmp_path):
    kw = dict(profile="smoke", epochs=1, num_workers=0, progress=False, runs=tmp_path)
    first = pretrain(synth_smoke["main"], seed=0, **kw)
    assert first["seed"] == 0 and not first.reused
    same = pretrain(synth_smoke["main"], seed=0, **kw)
    assert same.reused and same.dir == first.dir
    other = pretrain(synth_smoke["main"], seed=1, **kw)
    assert not other.reused and other.dir != first.dir and other["seed"] == 1
    assert other["fit_config"]["seed"] == 1
    # an explicit folder that holds the seed-0 run is refused, not read back
    with pytest.raises(SettingsError, match="seed 0 -> 1"):
        pretrain(synth_smoke["main"], first.dir, seed=1, **{k: v for k, v in kw.items()
                                                           if k != "runs"})


def test_the_data_digest_follows_the_videos(synth_smoke, tmp_path):
    import shutil

    copy = tmp_path / "main"
    shutil.copytree(synth_smoke["main"], copy)
    assert data_digest(copy) == data_digest(synth_smoke["main"])  # same content, elsewhere
    video = next((copy / "videos").rglob("*.mp4"))
    video.write_bytes(video.read_bytes() + b"\0")
    assert data_digest(copy) != data_digest(synth_smoke["main"])


def test_stale_temporary_files_are_removed(tmp_path):
    dead = tmp_path / ".last.pt.tmp999999999"
    dead.write_bytes(b"half")
    mine = temp_path(tmp_path / "best.pt")
    mine.write_bytes(b"being written")
    assert remove_stale_temps(tmp_path) == [dead]
    assert not dead.exists() and mine.exists()
    assert os.getpid() == int(mine.name.rsplit("tmp", 1)[1])

"""Fault injection: every way a run can be killed, fed a bad file or a bad setting, at tiny
sizes, and what the toolkit does about it (the README's table of faults lists these tests).

Killing: a training process is stopped with SIGKILL at a chosen moment (in the middle of an
epoch, or while a checkpoint is being written), then the same command runs again; its final
weights must equal, bit for bit, those of a run that was never interrupted, with 0 and with 2
DataLoader workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from vcop_lab.checkpoint import load_checkpoint
from vcop_lab.data.manifest import load_manifest
from vcop_lab.finetune import finetune
from vcop_lab.pretrain import pretrain
from vcop_lab.runs import used_runs

EPOCHS = 3


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last.pt")["model"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _train(kind: str, data: Path, out: Path, workers: int, epochs: int = EPOCHS, **kw):
    common = dict(profile="smoke", epochs=epochs, num_workers=workers, device="cpu",
                  progress=False, **kw)
    if kind == "pretrain":
        return pretrain(data, out, **common)
    return finetune(data, out, **common)


@pytest.fixture(scope="module")
def straight(synth_smoke, tmp_path_factory):
    """Uninterrupted runs: {(kind, workers): run folder}."""
    root = tmp_path_factory.mktemp("straight")
    runs = {}
    for kind in ("pretrain", "finetune"):
        for workers in (0, 2):
            out = root / f"{kind}-{workers}"
            _train(kind, synth_smoke["main"], out, workers)
            runs[kind, workers] = out
    return runs


@pytest.mark.parametrize("kind", ["pretrain", "finetune"])
def test_results_do_not_depend_on_the_number_of_workers(straight, kind):
    assert _same(_weights(straight[kind, 0]), _weights(straight[kind, 2]))


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("kind", ["pretrain", "finetune"])
def test_resume_is_bit_identical(synth_smoke, straight, tmp_path, kind, workers):
    out = tmp_path / "resumed"
    _train(kind, synth_smoke["main"], out, workers, epochs=1)
    resumed = _train(kind, synth_smoke["main"], out, workers, resume=True)
    assert resumed["epochs_run"] == EPOCHS
    assert _same(_weights(out), _weights(straight[kind, workers]))
    a = json.loads((out / "history.json").read_text())
    b = json.loads((straight[kind, workers] / "history.json").read_text())
    assert [h["train_loss"] for h in a] == [h["train_loss"] for h in b]


# The child process trains until the moment, tells the parent by writing a flag file, and
# waits there to be killed.
CHILD = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    kind, data, out, workers, moment, flag = sys.argv[1:7]
    import vcop_lab.checkpoint as checkpoint
    import vcop_lab.train as train

    def stop_here():
        Path(flag).write_text("now")
        time.sleep(120)

    if moment == "mid-epoch":  # the second epoch, after two of its steps
        import vcop_lab.finetune as f, vcop_lab.pretrain as p
        module, name = (p, "order_step") if kind == "pretrain" else (f, "action_step")
        real_step, real_write, state = getattr(module, name), train.write_json_atomic, {}
        def history(path, data, **kw):  # history.json is written at the end of each epoch
            real_write(path, data, **kw)
            state.update(epochs=len(data), steps=0)
        def step(*args, **kw):
            if state.get("epochs") == 1:
                state["steps"] += 1
                if state["steps"] == 2:
                    stop_here()
            return real_step(*args, **kw)
        train.write_json_atomic = history
        setattr(module, name, step)
    else:  # "during-save": inside the second write of last.pt, before its rename
        real_save, saves = checkpoint.torch.save, {"last": 0}
        def save(obj, f, *a, **kw):
            real_save(obj, f, *a, **kw)
            if "optimizer" in obj:
                saves["last"] += 1
                if saves["last"] == 2:
                    stop_here()
        checkpoint.torch.save = save
    from vcop_lab.finetune import finetune
    from vcop_lab.pretrain import pretrain
    fn = pretrain if kind == "pretrain" else finetune
    fn(data, out, profile="smoke", epochs=3, num_workers=int(workers), device="cpu",
       progress=False)
''')


def _kill_at(moment: str, kind: str, data: Path, out: Path, workers: int, tmp: Path) -> None:
    flag = tmp / "flag"
    script = tmp / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, str(script), kind, str(data), str(out),
                              str(workers), moment, str(flag)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not flag.exists():
        if child.poll() is not None:
            raise AssertionError(f"the child ended before the moment: "
                                 f"{child.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("the moment never came")
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["mid-epoch", "during-save"])
@pytest.mark.parametrize("kind", ["pretrain", "finetune"])
def test_sigkill_then_resume_ends_bit_identical(synth_smoke, straight, tmp_path, kind, moment):
    workers, out = 2, tmp_path / "killed"
    _kill_at(moment, kind, synth_smoke["main"], out, workers, tmp_path)
    assert not (out / "metrics.json").exists()
    load_checkpoint(out / "last.pt")  # whatever was written is a complete checkpoint
    if moment == "during-save":
        assert list(out.glob(".last.pt.tmp*")), "the kill left its temporary file"
    again = _train(kind, synth_smoke["main"], out, workers)  # the same command, once more
    assert again["epochs_run"] == EPOCHS and not again.reused
    assert not list(out.glob(".*.tmp*"))  # the dead writer's temporary file is gone
    assert _same(_weights(out), _weights(straight[kind, workers]))


# ----------------------------------------------------------------------------- bad videos


def _copy_set(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    (dst / ".video_check.json").unlink(missing_ok=True)
    return dst


def _break(data: Path) -> dict[str, str]:
    """Damage four videos of a copied set, each another way; returns {path: kind}."""
    from vcop_lab.data.manifest import load_manifest, write_manifest

    records = load_manifest(data)
    train = [r for r in records if r.split == "train"]
    empty, text, cut, gone = (data / r.path for r in train[:4])
    empty.write_bytes(b"")
    text.write_text("this is not a video\n")
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 3])
    gone.unlink()
    # a row that claims more frames than its file holds
    longer = train[4]
    records[records.index(longer)] = type(longer)(**{**longer.__dict__,
                                                    "num_frames": longer.num_frames * 3})
    write_manifest(records, data / "manifest.csv")
    return {train[0].path: "empty", train[1].path: "unreadable", train[2].path: "unreadable",
            train[3].path: "missing", longer.path: "short"}


def test_bad_videos_are_left_out_counted_and_named(synth_smoke, tmp_path):
    data = _copy_set(synth_smoke["main"], tmp_path / "main")
    broken = _break(data)
    out = tmp_path / "run"
    metrics = pretrain(data, out, profile="smoke", epochs=1, num_workers=2, device="cpu",
                       progress=False)
    assert metrics["videos"]["left_out"] == {"missing": 1, "empty": 1, "unreadable": 2,
                                             "short": 1}
    named = json.loads((out / "bad_videos.json").read_text())["videos"]
    assert {v["path"]: kind for kind, items in named.items() for v in items} == broken
    # the reproduction's report counts them beside the run
    log = tmp_path / "runs_used.jsonl"
    log.write_text(json.dumps({"dir": str(out), "kind": "order", "reused": False}) + "\n")
    assert used_runs(log)[0]["videos_left_out"] == 5
    # checked once: the second look costs no decoding (the cache knows every file)
    from vcop_lab.data import check

    calls = []
    real = check._probe
    check._probe = lambda *a: calls.append(a) or real(*a)
    try:
        check.check_videos(data, __import__("vcop_lab").data.manifest.load_manifest(data))
    finally:
        check._probe = real
    assert calls == []


def test_strict_stops_before_any_work_naming_every_bad_file(synth_smoke, tmp_path, capsys):
    from vcop_lab.cli import main

    data = _copy_set(synth_smoke["main"], tmp_path / "main")
    broken = _break(data)
    out = tmp_path / "run"
    code = main(["pretrain", "--data", str(data), "--profile", "smoke", "--epochs", "1",
                 "--workers", "0", "--strict", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert all(path in err[0] for path in broken) and "Traceback" not in err[0]
    assert not out.exists() or not any(out.iterdir())  # nothing was started


def test_a_video_that_fails_while_training_is_skipped_not_fatal(synth_smoke, tmp_path):
    from vcop_lab.data import datasets

    data = _copy_set(synth_smoke["main"], tmp_path / "main")
    out = tmp_path / "run"
    victim = next(r for r in load_manifest(data) if r.split == "train")
    real = datasets.read_frames

    def flaky(path, *args, **kw):  # passes the check, then fails while it is read
        if str(path).endswith(victim.path):
            from vcop_lab.errors import VideoError
            raise VideoError("decoding failed after 3 frames (truncated)", path)
        return real(path, *args, **kw)

    datasets.read_frames = flaky
    try:
        with pytest.warns(UserWarning, match="does not decode"):
            metrics = pretrain(data, out, profile="smoke", epochs=2, num_workers=0,
                               device="cpu", progress=False)
    finally:
        datasets.read_frames = real
    assert metrics["epochs_run"] == 2
    assert metrics["videos"]["failed_while_reading"] == 1
    logged = (out / "videos_failed_while_reading.jsonl").read_text().splitlines()
    assert json.loads(logged[0])["path"] == victim.path


# ----------------------------------------------------------------------------- bad settings


def _one_line_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and "Traceback" not in err[0], err
    for word in words:
        assert word in err[0], (word, err[0])
    return err[0]


@pytest.mark.parametrize("command", ["pretrain", "finetune", "videoqa", "retrieve", "synth",
                                     "reproduce"])
def test_an_out_that_is_a_file_or_cannot_be_made_is_one_line(synth_smoke, tmp_path, capsys,
                                                              command):
    from vcop_lab.cli import main

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    data = ["--data", str(synth_smoke["main"])]
    args = {"pretrain": ["pretrain", *data, "--profile", "smoke"],
            "finetune": ["finetune", *data, "--checkpoint", "random", "--profile", "smoke"],
            "videoqa": ["videoqa", *data, "--checkpoint", "random", "--profile", "smoke"],
            "retrieve": ["retrieve", *data, "--checkpoint", "random", "--profile", "smoke"],
            "synth": ["synth", "--preset", "smoke"],
            "reproduce": ["reproduce", "--profile", "smoke", "--only", "00"]}[command]
    folder_out = command != "retrieve"
    target = a_file if folder_out else tmp_path
    _one_line_error(capsys, main([*args, "--out", str(target)]), str(target))
    under_a_file = a_file / "below" / ("run" if folder_out else "r.json")
    _one_line_error(capsys, main([*args, "--out", str(under_a_file)]), "cannot be written")
    assert not list(tmp_path.glob(".*tmp*"))


def test_bad_numbers_and_devices_are_one_line(synth_smoke, tmp_path, capsys):
    from vcop_lab.cli import main

    base = ["pretrain", "--data", str(synth_smoke["main"]), "--profile", "smoke",
            "--out", str(tmp_path / "run")]
    _one_line_error(capsys, main([*base, "--workers", "-1"]), "--workers", "negative")
    _one_line_error(capsys, main([*base, "--epochs", "0"]), "epochs")
    _one_line_error(capsys, main([*base, "--device", "bogus"]), "bogus")
    if not torch.cuda.is_available():
        _one_line_error(capsys, main([*base, "--device", "cuda"]), "CUDA device")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_empty_checkpoint_and_feature_caches_are_named_and_rebuilt(synth_smoke, tmp_path):
    from vcop_lab.checkpoint import CheckpointError
    from vcop_lab.evaluate.features import FEATURES_NAME, extract_features

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(empty)
    kw = dict(profile="smoke", num_clips=2, cache_dir=tmp_path / "cache", num_workers=0,
              progress=False)
    first = extract_features(synth_smoke["main"], "test", "random", **kw)
    values = torch.as_tensor(first.features).clone()  # not the file: it is damaged below
    del first.features  # no memory map may point into a file that shrinks
    npy = Path(first.meta["cache_file"])
    for damage in (lambda b: b"", lambda b: b[: len(b) // 2],
                   lambda b: b[:-8] + bytes(8)):  # empty, truncated, altered bytes
        npy.write_bytes(damage(npy.read_bytes()))
        with pytest.warns(UserWarning, match=str(npy.parent.name)):
            again = extract_features(synth_smoke["main"], "test", "random", **kw)
        assert again.meta["cache"] == "miss"
        assert torch.equal(torch.as_tensor(again.features), values)
        del again
        assert extract_features(synth_smoke["main"], "test", "random", **kw).meta["cache"] \
            == "hit"
    assert len(list((tmp_path / "cache").rglob(FEATURES_NAME))) == 1


def test_label_indices_must_name_the_classes(tmp_path):
    from vcop_lab.data.manifest import VideoRecord, load_manifest, write_manifest
    from vcop_lab.errors import ManifestError

    rows = [VideoRecord(f"c{i}.mp4", f"class{i}", i, "train", 30, 25.0, 8, 8) for i in range(13)]
    rows.append(VideoRecord("odd.mp4", "odd", 99, "train", 30, 25.0, 8, 8))
    write_manifest(rows, tmp_path / "manifest.csv")
    with pytest.raises(ManifestError, match="label_index 99"):
        load_manifest(tmp_path)
    # a class list beside the manifest (prepare writes one) allows classes without videos
    write_manifest(rows, tmp_path / "manifest.csv",
                   classes=[f"class{i}" for i in range(13)] + ["x"] * 86 + ["odd"])
    assert len(load_manifest(tmp_path)) == 14


def test_prepare_never_writes_into_the_dataset_folder(tmp_path, capsys):
    from vcop_lab.cli import main

    root = tmp_path / "UCF-101"
    root.mkdir()
    for out in (root, root / "manifests"):
        _one_line_error(capsys, main(["prepare", "ucf101", "--root", str(root), "--out",
                                      str(out)]), "dataset folder")
    assert list(root.iterdir()) == []


def test_finished_runs_are_reused_refused_or_replaced_on_request(synth_smoke, tmp_path,
                                                                  capsys):
    from vcop_lab.cli import main

    out = tmp_path / "run"
    base = ["pretrain", "--data", str(synth_smoke["main"]), "--profile", "smoke",
            "--epochs", "1", "--workers", "0", "--out", str(out)]
    assert main(base) == 0
    stamp = (out / "best.pt").stat().st_mtime_ns
    assert main(base) == 0 and "reusing" in capsys.readouterr().out  # same settings
    assert (out / "best.pt").stat().st_mtime_ns == stamp
    for other in (["--seed", "1"], ["--setting", "4-2-4"], ["--arch", "c3d"],
                  ["--profile", "teaching"], ["--data", str(synth_smoke["second"])]):
        args = [a for a in base if a not in ("--profile", "smoke")] if "--profile" in other \
            else base
        _one_line_error(capsys, main([*args, *other, "--resume"]), "other settings", "--force")
        assert (out / "best.pt").stat().st_mtime_ns == stamp  # untouched
    assert main([*base, "--seed", "1", "--force"]) == 0
    assert json.loads((out / "metrics.json").read_text())["seed"] == 1


def test_data_root_and_only_must_name_what_exists(tmp_path):
    from vcop_lab.errors import SettingsError
    from vcop_lab.paths import synthetic_dirs
    from vcop_lab.reproduce import reproduce

    with pytest.raises(SettingsError, match="data folder not found"):
        synthetic_dirs("smoke", tmp_path / "nonexistent")
    assert not (tmp_path / "nonexistent").exists()
    with pytest.raises(SettingsError, match="no notebook matches --only 99"):
        reproduce(tmp_path / "out", profile="smoke", only=["99"], progress=False)

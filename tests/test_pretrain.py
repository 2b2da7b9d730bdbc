"""Pretraining end to end at smoke size: metrics, checkpoints, exact resume, curricula."""

import json

import pytest
import torch

from vcop_lab.checkpoint import load_checkpoint, load_order_init
from vcop_lab.cli import main
from vcop_lab.errors import CheckpointError
from vcop_lab.pretrain import build_order_model, pretrain, pretrain_settings
from vcop_lab.profiles import SMOKE
from vcop_lab.runs import read_settings


def _run(data, out, **kw):
    kw.setdefault("epochs", 2)
    return pretrain(data, out, profile="smoke", progress=False, num_workers=0, **kw)


@pytest.fixture(scope="module")
def smoke_run(synth_smoke, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "run"
    return _run(synth_smoke["main"], out), out


def test_metrics_and_checkpoints(smoke_run):
    metrics, out = smoke_run
    for key in ("test_order_acc", "chance", "per_class_order_acc", "arch", "setting",
                "permutation_confusion", "epochs_run", "clips_per_second", "seed"):
        assert key in metrics
    assert metrics["chance"] == pytest.approx(1 / 6)
    assert 0.0 <= metrics["test_order_acc"] <= 1.0
    assert json.loads((out / "metrics.json").read_text())["arch"] == "r3d"
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"} <= set(hist[0])
    confusion = torch.tensor(metrics["permutation_confusion"])
    # every test tuple is scored under all 6 orders: rows are balanced
    assert confusion.sum(1).unique().numel() == 1
    assert confusion.sum().item() == metrics["test_tuples"]
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["meta"]["tl"] == 3


def test_resume_is_exact(synth_smoke, tmp_path, smoke_run):
    _, straight = smoke_run
    interrupted = tmp_path / "resumed"
    _run(synth_smoke["main"], interrupted, epochs=1)
    _run(synth_smoke["main"], interrupted, epochs=2, resume=True)
    a = load_checkpoint(straight / "last.pt")["model"]
    b = load_checkpoint(interrupted / "last.pt")["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ha = json.loads((straight / "history.json").read_text())
    hb = json.loads((interrupted / "history.json").read_text())
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]


def test_task_curriculum_init_carries_backbone_and_pair(smoke_run):
    _, out = smoke_run
    model = build_order_model("r3d", 0.125, tl=4)
    meta = load_order_init(model, out / "best.pt")
    state = load_checkpoint(out / "best.pt")["model"]
    assert meta["tl"] == 3
    assert torch.equal(model.pair.weight, state["pair.weight"])
    mine = model.state_dict()
    for key in (k for k in state if k.startswith("backbone.")):
        assert torch.equal(mine[key], state[key]), key
    assert model.classifier.out_features == 24


def test_init_of_another_architecture_is_refused(smoke_run):
    _, out = smoke_run
    with pytest.raises(CheckpointError, match="r3d"):
        load_order_init(build_order_model("c3d", 0.125, tl=3), out / "best.pt")


def test_reference_code_options_reach_the_run(synth_smoke, tmp_path):
    prof = SMOKE.with_overrides(r21d_shortcut="factorised", bn_per_position=True,
                                init="reference")
    out = tmp_path / "r21d"
    metrics = pretrain(synth_smoke["main"], out, profile=prof, arch="r21d", epochs=1,
                       progress=False, num_workers=0)
    settings = read_settings(out)
    assert settings["shortcut"] == "factorised"
    assert settings["profile"]["bn_per_position"] is True
    assert settings["profile"]["init"] == "reference"
    meta = load_checkpoint(out / "best.pt")["meta"]
    assert meta["shortcut"] == metrics["shortcut"] == "factorised"
    assert meta["bn_per_position"] is True and meta["init_scheme"] == "reference"
    # the task curriculum must start from a model with the same shortcut
    with pytest.raises(CheckpointError, match="shortcut"):
        load_order_init(build_order_model("r21d", 0.125, tl=4), out / "best.pt")
    load_order_init(build_order_model("r21d", 0.125, tl=4, shortcut="factorised"),
                    out / "best.pt")
    # the defaults are other settings (another run folder); C3D and R3D have no shortcut
    default = pretrain_settings(synth_smoke["main"], SMOKE, "r21d")
    assert default["shortcut"] == "projection" and default != settings
    assert default["profile"]["bn_per_position"] is False
    assert pretrain_settings(synth_smoke["main"], prof, "r3d")["shortcut"] is None


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    code = main(["pretrain", "--data", str(tmp_path / "none"), "--profile", "smoke",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "manifest not found" in err[0]
    code = main(["pretrain", "--data", str(tmp_path), "--setting", "16-8-9",
                 "--profile", "smoke", "--out", str(tmp_path / "o")])
    assert code == 2


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(bad)


def test_optimizer_choice():
    from vcop_lab.errors import SettingsError
    from vcop_lab.train import FitConfig, make_optimizer

    params = [torch.nn.Parameter(torch.zeros(3))]
    assert isinstance(make_optimizer(params, FitConfig("x", 1, 1)), torch.optim.SGD)
    adam = make_optimizer(params, FitConfig("x", 1, 1, optimizer="adamw", lr=3e-4))
    assert isinstance(adam, torch.optim.AdamW) and adam.defaults["lr"] == 3e-4
    with pytest.raises(SettingsError, match="sgd"):
        make_optimizer(params, FitConfig("x", 1, 1, optimizer="rmsprop"))

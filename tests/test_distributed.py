"""Two CPU processes on the gloo backend under torchrun, as several GPUs would run."""

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_torchrun_two_processes_gloo(synth_smoke, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "vcop_lab", "pretrain", "--data", str(synth_smoke["main"]),
           "--profile", "smoke", "--epochs", "2", "--workers", "0", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 2
    # each rank sees half of the training videos per epoch
    assert (out / "best.pt").exists() and (out / "last.pt").exists()

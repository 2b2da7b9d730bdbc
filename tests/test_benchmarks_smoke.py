"""The benchmark scripts run in a tiny mode and write valid JSON (no timing is checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vcop_lab.data.manifest import VideoRecord, write_manifest
from vcop_lab.data.synthetic import write_video

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    """Four 64-frame synthetic-format videos (86x64, H.264, GOP 8) and their manifest."""
    root = tmp_path_factory.mktemp("tiny_synthetic")
    rng = np.random.default_rng(0)
    records = []
    for i in range(4):
        texture = rng.integers(0, 256, (128, 172, 3), dtype=np.uint8)
        frames = np.stack([np.roll(texture, (t, 2 * t), (0, 1))[:64, :86] for t in range(64)])
        path = root / "videos" / f"clip_{i}.mp4"
        path.parent.mkdir(exist_ok=True)
        write_video(frames, path, 25)
        records.append(VideoRecord(f"videos/clip_{i}.mp4", f"c{i % 2}", i % 2, "train", 64,
                                   25.0, 86, 64))
    write_manifest(records, root / "manifest.csv")
    return root


def _run(args: list[str], out: Path, timeout: float = 120) -> dict:
    done = subprocess.run([sys.executable, *map(str, args), "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_run_all_collects_the_end_to_end_benchmark(tmp_path):
    # run_all --only end_to_end --limit 1: `reproduce --profile smoke` of the first notebook.
    done = subprocess.run(
        [sys.executable, BENCH / "run_all.py", "--only", "end_to_end", "--limit", "1",
         "--results", tmp_path], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    assert list(collected["status"]) == ["end_to_end"]
    data = json.loads((tmp_path / "end_to_end.json").read_text(encoding="utf-8"))
    assert data == collected["results"]["end_to_end"]
    (run,) = data["runs"]
    assert run["profile"] == "smoke" and run["ok"], run["output_tail"]
    assert list(run["notebooks"]) == ["00_tour.ipynb"]


def test_end_to_end_repeats_compare_their_figures(tmp_path):
    # two reproductions of the first notebook, each from nothing: the same figures
    data = _run([BENCH / "bench_end_to_end.py", "--profiles", "smoke", "--repeat", "2",
                 "--limit", "1", "--workdir", tmp_path / "work"], tmp_path / "e2e.json",
                timeout=300)
    assert [run["ok"] for run in data["runs"]] == [True, True]
    (repeat,) = data["repeats"]
    assert repeat["identical_figures"] is True, repeat["verdict"]
    assert repeat["differing"] == {"run 2": []}


def test_loader_benchmark_options(tmp_path, tiny_set):
    data = _run([BENCH / "bench_loader.py", "--datasets", "synthetic", "--synthetic", tiny_set,
                 "--settings", "teaching", "--workers", "0", "--backends", "pyav",
                 "--limit", "2", "--epochs", "1"], tmp_path / "loader.json")
    assert {row["workers"] for row in data["rows"]} == {0}
    assert data["config"]["backends"] == ["pyav"]
    methods = {row["method"] for row in data["rows"]}
    assert methods == {"baseline (whole video + PIL)", "floor (decoder alone)",
                       "ours-pyav cold", "ours-pyav warm"}
    assert all(row["tps"] > 0 for row in data["rows"])
    assert data["summary"] and data["machine"]["cpus"] >= 1


def test_train_step_benchmark(tmp_path, tiny_set):
    data = _run([BENCH / "bench_train_step.py", "--quick", "--limit", "1", "--archs", "c3d",
                 "--data-workers", "0", "--synthetic", tiny_set], tmp_path / "train.json")
    rows = data["compute"]
    assert [r["layout"] for r in rows] == ["contiguous", "channels_last_3d"]
    assert all("error" not in r and r["clips_per_s"] > 0 for r in rows)
    assert data["data_vs_compute"]["ratio"] > 0


def test_loader_cpu_benchmark(tmp_path, tiny_set):
    # Paper-size tuples (16-8-3 spans all 64 frames) from the tiny set, before and after.
    data = _run([BENCH / "bench_loader_cpu.py", "--datasets", "synthetic", "--synthetic",
                 tiny_set, "--limit", "2", "--tuples", "4", "--batch", "2", "--workers", "1"],
                tmp_path / "loader_cpu.json")
    (result,) = data["results"]
    assert result["tuples"] == 4 and result["network_input_identical"]
    assert result["bytes_per_tuple"]["before"] == 4 * result["bytes_per_tuple"]["after"]
    for path in ("before", "after"):
        ms = result["ms_per_tuple"][path]
        assert ms["total"] > 0 and min(ms.values()) >= 0
    assert result["ratio_after_over_before"] > 0 and data["machine"]["cpus"] >= 1
    loader = result["through_loader"]
    assert loader["workers"] == 1 and loader["ms_per_tuple"]["after"]["total"] > 0


def test_bn_per_position_benchmark(tmp_path, synth_smoke):
    data = _run([BENCH / "bench_bn_per_position.py", "--quick", "--data", synth_smoke["main"]],
                tmp_path / "bn.json", timeout=300)
    rows = data["rows"]
    assert [r["bn_per_position"] for r in rows] == [False, True]
    assert all(0 <= r["test_order_acc"] <= 1 and r["epochs_run"] == 1 for r in rows)
    assert data["config"]["profile"] == "smoke"

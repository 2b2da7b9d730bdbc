"""Compare BatchNorm over all clips of a batch with BatchNorm per clip position in pretraining.

The reference code calls the backbone once per clip position, so in training each BatchNorm
layer normalises over the batch of one position (8 clips at the paper's batch of 8 tuples);
the toolkit's default encodes all ``batch * tl`` clips in one pass. The profile field
``bn_per_position`` switches between the two. This script pretrains the same backbone twice
on the same data with the same seed, once each way, and reports the test order accuracy
(tuple level, every order scored), the best epoch, the minutes of each run and the median
seconds per epoch (which a few epochs slowed by other work on the machine do not move).

The runs go through :func:`vcop_lab.pretrain.pretrain` into a temporary folder (or
``--runs``), one after the other in this process; the first may pay for cold file caches.

Examples::

    python benchmarks/bench_bn_per_position.py                    # teaching: R3D 8-4-3, 20 epochs
    python benchmarks/bench_bn_per_position.py --epochs 10        # a shorter budget
    python benchmarks/bench_bn_per_position.py --data /tmp/teach/main
    python benchmarks/bench_bn_per_position.py --quick            # smoke size, 1 epoch
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import common  # puts the repository on sys.path

COLUMNS = [("bn", "BatchNorm statistics", "{}"),
           ("test_order_acc_pct", "test order acc. %", "{:.1f}"),
           ("chance_pct", "chance %", "{:.1f}"), ("best_epoch", "best epoch", "{}"),
           ("epochs_run", "epochs", "{}"), ("train_minutes", "train min", "{:.1f}"),
           ("wall_minutes", "wall min", "{:.1f}"),
           ("median_epoch_seconds", "median s/epoch", "{:.1f}"),
           ("clips_per_second", "clips/s", "{:.1f}")]


def _data_folder(data: Path | None, preset: str) -> Path:
    """``data`` (a folder holding ``manifest.csv``, or its parent with ``main/``), or the
    synthetic set of ``preset`` generated once into the temp folder."""
    from vcop_lab.data.synthetic import ensure_synthetic

    if data is None:
        manifests = ensure_synthetic(common.SYNTHETIC_CACHE / preset, preset=preset,
                                     progress=False)
        return Path(manifests["main"]).parent
    return data if (data / "manifest.csv").exists() else data / "main"


def run_arm(data: Path, runs: Path, profile, per_position: bool, args) -> dict:
    """One pretraining run with ``bn_per_position`` set to ``per_position``."""
    from vcop_lab.pretrain import pretrain

    prof = profile.with_overrides(bn_per_position=per_position)
    name = "per-position" if per_position else "all-clips"
    m = pretrain(data, runs / name, profile=prof, arch=args.arch, setting=args.setting,
                 seed=args.seed, epochs=args.epochs, device=args.device,
                 num_workers=args.workers, progress=False)
    history = json.loads((runs / name / "history.json").read_text(encoding="utf-8"))
    history = [{k: h[k] for k in ("epoch", "train_loss", "val_loss", "val_acc", "seconds")}
               for h in history]
    # robust to a few epochs slowed by other work on the machine
    median_epoch = statistics.median(h["seconds"] for h in history)
    return {"bn": "per clip position" if per_position else "all clips of the batch",
            "bn_per_position": per_position, "test_order_acc": m["test_order_acc"],
            "test_order_acc_pct": 100 * m["test_order_acc"], "chance_pct": 100 * m["chance"],
            "best_epoch": m["best_epoch"], "best_val_loss": m["best_val_loss"],
            "epochs_run": m["epochs_run"], "train_minutes": m["train_minutes"],
            "wall_minutes": m["wall_minutes"], "median_epoch_seconds": median_epoch,
            "clips_per_second": m["clips_per_second"],
            "test_videos": m["test_videos"], "train_videos": m["train_videos"],
            "history": history, "run_dir": str(runs / name)}


def main(argv: list[str] | None = None) -> dict:
    from vcop_lab.profiles import get_profile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke profile and set, 1 epoch (meaningless figures)")
    parser.add_argument("--profile", help="default: teaching (smoke with --quick)")
    parser.add_argument("--data", type=Path, help="data folder (default: the profile's "
                        "synthetic set, generated once into the temp folder)")
    parser.add_argument("--arch", default="r3d", choices=("c3d", "r3d", "r21d"))
    parser.add_argument("--setting", help="cl-it-tl (default: the profile's)")
    parser.add_argument("--epochs", type=int, help="default: the profile's (1 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, help="loader workers (default: the profile's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=Path, help="folder for the two runs (default: a "
                        "temporary one, removed afterwards)")
    parser.add_argument("--out", type=Path, help="JSON path (default "
                        "results/bn_per_position.json)")
    args = parser.parse_args(argv)
    prof = get_profile(args.profile or ("smoke" if args.quick else "teaching"))
    args.epochs = args.epochs or (1 if args.quick else prof.epochs)
    if args.quick and args.workers is None:
        args.workers = 0
    data = _data_folder(args.data, prof.synth_preset)
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bn_per_position_") as tmp:
        runs = args.runs or Path(tmp)
        rows = []
        for per_position in (False, True):
            rows.append(run_arm(data, runs, prof, per_position, args))
            print(common.table(rows[-1:], COLUMNS).splitlines()[-1], flush=True)
    load_after = list(os.getloadavg())
    print("\n" + common.table(rows, COLUMNS))
    gain = rows[1]["test_order_acc_pct"] - rows[0]["test_order_acc_pct"]
    print(f"per clip position - all clips: {gain:+.1f} points of test order accuracy "
          f"({prof.name} profile, {args.arch}, seed {args.seed}, {args.epochs} epochs)")
    note = common.load_note(load_before, load_after)
    print(note)
    result = {"benchmark": "bn_per_position",
              "config": {**vars(args), "data": str(data), "runs": str(args.runs),
                         "profile": prof.name, "out": str(args.out)},
              "machine": common.machine(), "load_note": note, "rows": rows,
              "per_position_minus_all_points": gain}
    path = common.write_json("bn_per_position", result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()

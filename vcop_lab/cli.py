"""The ``vcop-lab`` command line. Every subcommand is a thin layer over a Python function.

Problems with the user's input are printed as one line (file, what is wrong, how to fix it)
and the command exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

from vcop_lab.errors import VcopError

STAGE_CHOICES = ("conv1", "conv2", "conv3", "conv4", "conv5")


def _profile_arg(p: argparse.ArgumentParser, default="teaching") -> None:
    p.add_argument("--profile", default=default, choices=("smoke", "teaching", "paper"),
                   help=f"sizes of the run (default {default})")


def _common_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="folder holding manifest.csv")
    p.add_argument("--arch", choices=("c3d", "r3d", "r21d"), help="default: the profile's")
    _profile_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="override the profile's epoch budget")
    p.add_argument("--max-minutes", type=float, help="override the profile's time cap")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--workers", type=int, help="DataLoader workers (default: the profile's)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--out", required=True, type=Path, help="run folder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcop-lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate the synthetic motion dataset (all three styles)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--preset", default="teaching", help="smoke, teaching or large")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)

    p = sub.add_parser("inspect", help="print frames, fps, size and backend of video files")
    p.add_argument("videos", nargs="+")
    p.add_argument("--backend", default="auto", choices=("auto", "decord", "pyav"))

    p = sub.add_parser("pretrain", help="clip order prediction pretraining")
    _common_train_args(p)
    p.add_argument("--setting", help="CL-IT-TL, e.g. 16-8-3 (default: the profile's)")
    p.add_argument("--init", type=Path, help="warm start from an order checkpoint (task "
                   "curriculum: tl=3 -> 4 -> 5)")
    p.add_argument("--sample-curriculum", action="store_true",
                   help="after training, drop the easy videos and continue on the rest")
    p.add_argument("--sample-threshold", type=float, default=0.8)
    p.add_argument("--sample-record-epochs", type=int, help="K epochs of recording")
    p.add_argument("--sample-extra-epochs", type=int, help="epochs on the hard videos")

    p = sub.add_parser("retrieve", help="nearest-neighbour video retrieval")
    p.add_argument("--data", required=True, type=Path, help="gallery/query data folder")
    p.add_argument("--query-data", type=Path, help="another dataset's folder for "
                   "cross-dataset retrieval (its test split queries --data's train split)")
    p.add_argument("--checkpoint", required=True, help="a checkpoint, or `random`")
    p.add_argument("--arch", choices=("c3d", "r3d", "r21d"))
    _profile_arg(p)
    p.add_argument("--layer", default="conv5", choices=STAGE_CHOICES)
    p.add_argument("--level", default="clip", choices=("clip", "video"))
    p.add_argument("--device")
    p.add_argument("--seed", type=int, default=0, help="seed of a random initialisation")
    p.add_argument("--cache", type=Path, help="feature cache folder")
    p.add_argument("--out", required=True, type=Path, help="results JSON file")

    p = sub.add_parser("finetune", help="action recognition fine-tuning")
    _common_train_args(p)
    p.add_argument("--checkpoint", required=True, help="an order checkpoint, or `random`")
    p.add_argument("--freeze-through", default="none", choices=("none",) + STAGE_CHOICES)
    p.add_argument("--label-fraction", type=float, default=1.0)

    p = sub.add_parser("videoqa", help="VideoQA with the E-SA model over clip features")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--checkpoint", required=True,
                   help="a checkpoint, `random`, or `question-only` (no video: zero features)")
    p.add_argument("--arch", choices=("c3d", "r3d", "r21d"))
    _profile_arg(p)
    p.add_argument("--glove", type=Path, help="GloVe text file (default: 50-d shipped path)")
    p.add_argument("--activitynet-qa", type=Path, help="folder of the official QA json files "
                   "(then --data holds ActivityNet videos prepared by `vcop-lab prepare`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--out", required=True, type=Path)

    # `prepare` parses its own options (vcop_lab.prepare.main_prepare); listed here for --help
    sub.add_parser("prepare", add_help=False,
                   help="turn a UCF101 / HMDB51 / ActivityNet-QA folder into checked manifests "
                        "(vcop-lab prepare --help)")

    p = sub.add_parser("reproduce", help="run all notebooks headless with papermill")
    _profile_arg(p)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--data-root", type=Path, help="synthetic data folder (generated if missing)")
    p.add_argument("--only", nargs="*", help="notebook name prefixes to run, e.g. 00 01")
    p.add_argument("--device", default="auto")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="notebook parameter, a Python literal or a string, e.g. "
                   "--param \"ARCHS=['r3d']\" or --param REAL_CLIPS=/data/clips")
    return parser


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=1, default=str))


def _parse_param(text: str) -> tuple[str, object]:
    """NAME=VALUE with VALUE a Python literal (``['r3d']``, ``3``, ``None``) or else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise VcopError(f"bad --param {text!r}", fix="write NAME=VALUE, e.g. ARCHS=['r3d']")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def run(args: argparse.Namespace) -> int:
    if args.command == "synth":
        from vcop_lab.data.synthetic import generate_synthetic
        paths = generate_synthetic(args.out, preset=args.preset, seed=args.seed,
                                   workers=args.workers)
        for style, path in paths.items():
            print(f"{style}: {path}")
        return 0
    if args.command == "inspect":
        from vcop_lab.data.video import main_inspect
        return main_inspect(args.videos, backend=args.backend)
    if args.command == "pretrain":
        from vcop_lab.pretrain import pretrain_cli
        return pretrain_cli(args)
    if args.command == "retrieve":
        from vcop_lab.evaluate_retrieval import retrieve_cli
        return retrieve_cli(args)
    if args.command == "finetune":
        from vcop_lab.finetune import finetune_cli
        return finetune_cli(args)
    if args.command == "videoqa":
        from vcop_lab.qa.run import videoqa_cli
        return videoqa_cli(args)
    if args.command == "reproduce":
        from vcop_lab.reproduce import reproduce
        extra = dict(_parse_param(p) for p in args.param)
        result = reproduce(args.out, profile=args.profile, data_root=args.data_root,
                           only=args.only, device=args.device, parameters=extra)
        return 0 if result["ok"] else 1
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["prepare"]:
        from vcop_lab.prepare import main_prepare
        return main_prepare(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except VcopError as exc:
        print(f"vcop-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vcop-lab {args.command}: interrupted (finished checkpoints are kept; "
              "re-run with --resume to continue)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

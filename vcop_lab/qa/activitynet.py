"""ActivityNet-QA: question/answer pairs, the answer vocabulary and Table VI's per-type scores.

The official files are ``{train,val,test}_q.json`` (``video_name, question, question_id``) and
``{train,val,test}_a.json`` (``answer, type, question_id``). ``type`` is the question type:
0 Motion, 1 Spatial relation, 2 Temporal relation, and 3-8 the "Free" questions split by
answer type (3 Yes/No, 4 Color, 5 Object, 6 Location, 7 Number, 8 Other). The videos are
YouTube videos named ``v_<video_name>.mp4`` in ActivityNet.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vcop_lab.atomic import atomic_path, write_json_atomic
from vcop_lab.data.splits import manifests_dir
from vcop_lab.errors import ManifestError, VcopError

SPLITS = ("train", "val", "test")
# The shipped index of the ActivityNet-QA videos (under data_manifests/): prepare works from
# it when the question files are not given.
QA_INDEX = "activitynet_qa/videos.csv"

TYPE_NAMES = {
    0: "Motion",
    1: "Spat. Rel.",
    2: "Temp. Rel.",
    3: "Y/N",
    4: "Color",
    5: "Obj.",
    6: "Loc.",
    7: "Num.",
    8: "Other",
}
FREE_CODES = (3, 4, 5, 6, 7, 8)
# Table VI's column order.
TYPE_COLUMNS = (
    "Motion", "Spat. Rel.", "Temp. Rel.", "Free",
    "Y/N", "Color", "Obj.", "Loc.", "Num.", "Other", "All",
)  # fmt: skip
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")


@dataclass(frozen=True)
class QAItem:
    """One question about one video, with its answer and type code (0-8)."""

    question_id: str
    video_name: str
    question: str
    answer: str
    type_code: int
    split: str = ""


def normalize_answer(answer: str) -> str:
    """Lower case, single spaces (``'14.62  seconds'`` -> ``'14.62 seconds'``)."""
    return " ".join(str(answer).lower().split())


def video_file_stem(video_name: str) -> str:
    """ActivityNet file name without extension: ``GGSY1Qvo990`` -> ``v_GGSY1Qvo990``.

    The prefix is always added: a YouTube id may itself begin with ``v_`` (``v_UmAH95xls``,
    question ids ``v_v_UmAH95xls_*``), and its file is then ``v_v_UmAH95xls.mp4``.
    """
    return f"v_{video_name}"


def _read_json_list(path: Path, keys: tuple[str, ...]) -> list[dict]:
    if not path.is_file():
        raise ManifestError(
            "ActivityNet-QA file not found",
            path=path,
            fix="point to the folder that holds {train,val,test}_{q,a}.json "
            "(https://github.com/MILVLG/activitynet-qa)",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"not valid JSON ({e})", path=path, fix="re-download it") from None
    if not isinstance(data, list):
        raise ManifestError("expected a JSON list of objects", path=path, fix="re-download it")
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or any(k not in entry for k in keys):
            raise ManifestError(
                f"entry {i} lacks one of the fields {', '.join(keys)}",
                path=path,
                fix="re-download it",
            )
    return data


def load_activitynet_qa(split: str, qa_dir: str | Path) -> list[QAItem]:
    """The QA pairs of one split (``train``, ``val`` or ``test``), in the questions file's order."""
    if split not in SPLITS:
        raise VcopError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    qa_dir = Path(qa_dir)
    q_path, a_path = qa_dir / f"{split}_q.json", qa_dir / f"{split}_a.json"
    questions = _read_json_list(q_path, ("video_name", "question", "question_id"))
    answers = _read_json_list(a_path, ("answer", "type", "question_id"))
    by_id = {a["question_id"]: a for a in answers}
    question_ids = {q["question_id"] for q in questions}
    missing = [q["question_id"] for q in questions if q["question_id"] not in by_id]
    orphans = [qid for qid in by_id if qid not in question_ids]
    if missing or orphans or len(question_ids) != len(questions):
        raise ManifestError(
            f"{len(missing)} questions have no answer, {len(orphans)} answers no question, "
            f"{len(questions) - len(question_ids)} question ids repeat "
            f"(first unanswered: {missing[:3]})",
            path=a_path,
            fix=f"use the {split}_q.json and {split}_a.json of the same release",
        )
    items = []
    for q in questions:
        a = by_id[q["question_id"]]
        code = a["type"]
        if not isinstance(code, int) or code not in TYPE_NAMES:
            raise ManifestError(
                f"question {q['question_id']} has type {code!r}, expected 0-8",
                path=a_path,
                fix="re-download it",
            )
        items.append(
            QAItem(
                question_id=q["question_id"],
                video_name=q["video_name"],
                question=q["question"].strip(),
                answer=normalize_answer(a["answer"]),
                type_code=code,
                split=split,
            )
        )
    return items


class AnswerVocabulary:
    """The K most frequent training answers; the model classifies over them.

    An answer outside the vocabulary has index -1: it can never be predicted, so such a
    question counts as wrong at evaluation (it is not dropped).
    """

    def __init__(self, answers: Sequence[str]):
        self.answers = list(answers)
        self.index = {a: i for i, a in enumerate(self.answers)}

    @classmethod
    def build(cls, train_items: Iterable[QAItem], top_k: int = 1000) -> AnswerVocabulary:
        """From the TRAINING items only; ties in frequency are broken alphabetically."""
        counts = Counter(item.answer for item in train_items)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls([a for a, _ in ranked[:top_k]])

    def __len__(self) -> int:
        return len(self.answers)

    def __contains__(self, answer: str) -> bool:
        return answer in self.index

    def encode(self, answer: str) -> int:
        """Class index of ``answer``, -1 when it is outside the vocabulary."""
        return self.index.get(answer, -1)

    def coverage(self, items: Sequence[QAItem]) -> float:
        """Fraction of ``items`` whose answer is in the vocabulary (the best reachable accuracy)."""
        return sum(item.answer in self.index for item in items) / max(len(items), 1)


def _files_by_stem(video_dir: Path) -> set[str]:
    return {p.stem for p in video_dir.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS}


def filter_to_available(
    items: Sequence[QAItem], video_dir: str | Path
) -> tuple[list[QAItem], int, int]:
    """Keep the questions whose video ``v_<video_name>.<ext>`` is in ``video_dir``.

    Returns ``(kept, n_missing_questions, n_missing_videos)``: the questions skipped and the
    distinct videos they are about, so a report can say how much of the split was used.
    """
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise VcopError(
            "video folder not found", path=video_dir, fix="pass the folder of v_<id>.mp4 files"
        )
    on_disk = _files_by_stem(video_dir)
    kept = [item for item in items if video_file_stem(item.video_name) in on_disk]
    missing_videos = {item.video_name for item in items} - {item.video_name for item in kept}
    return kept, len(items) - len(kept), len(missing_videos)


def per_type_accuracy(
    type_codes: Sequence[int], correct: Sequence[bool]
) -> dict[str, float | None]:
    """Accuracy (a fraction) per Table VI column; ``None`` where no question has that type.

    ``Free`` pools codes 3-8, ``All`` every question.
    """
    if len(type_codes) != len(correct):
        raise ValueError("type_codes and correct differ in length")
    hits: Counter = Counter()
    totals: Counter = Counter()
    for code, ok in zip(type_codes, correct):
        columns = [TYPE_NAMES[int(code)], "All"] + (["Free"] if int(code) in FREE_CODES else [])
        for column in columns:
            totals[column] += 1
            hits[column] += bool(ok)
    return {c: (hits[c] / totals[c] if totals[c] else None) for c in TYPE_COLUMNS}


def answer_distribution(items: Sequence[QAItem]) -> dict[str, dict[str, int]]:
    """Answer counts per type column (and ``Free``, ``All``), most frequent first."""
    counts: dict[str, Counter] = {c: Counter() for c in TYPE_COLUMNS}
    for item in items:
        counts[TYPE_NAMES[item.type_code]][item.answer] += 1
        counts["All"][item.answer] += 1
        if item.type_code in FREE_CODES:
            counts["Free"][item.answer] += 1
    return {
        c: dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
        for c, counter in counts.items()
    }


def majority_baseline(
    train_items: Sequence[QAItem], test_items: Sequence[QAItem]
) -> dict[str, float | None]:
    """Accuracy on ``test_items`` of answering every question with the most frequent training
    answer of its type (codes 0-8; ties alphabetical), per Table VI column.

    This is the "question-type prior": a model that reads only the question type gets it.
    """
    dist = answer_distribution(train_items)
    fallback = next(iter(dist["All"]), None)
    guess = {code: next(iter(dist[name]), fallback) for code, name in TYPE_NAMES.items()}
    codes = [item.type_code for item in test_items]
    correct = [item.answer == guess[item.type_code] for item in test_items]
    return per_type_accuracy(codes, correct)


def load_qa_questions(qa_dir: str | Path) -> dict[str, tuple[str, list[str]]]:
    """ActivityNet-QA videos from ``{train,val,test}_q.json``: video name -> (split, question
    ids), in split then first-appearance order. A video in two splits is an error."""
    qa_dir = Path(qa_dir)
    videos: dict[str, tuple[str, list[str]]] = {}
    for split in SPLITS:
        path = qa_dir / f"{split}_q.json"
        for q in _read_json_list(path, ("video_name", "question", "question_id")):
            name = str(q["video_name"])
            entry = videos.setdefault(name, (split, []))
            if entry[0] != split:
                raise ManifestError(f"video {name} appears in both {entry[0]} and {split}",
                                    path=path, fix="use the official split files")
            entry[1].append(str(q["question_id"]))
    return videos


def activitynet_qa_manifest(qa_dir: str | Path) -> dict[str, dict]:
    """One row per ActivityNet-QA video: ``{video_name: {video_name, file_name, split,
    num_questions}}`` over all three splits, in split then first-appearance order.

    ``qa_dir`` is the folder of the question files, or a folder holding ``activitynet_qa/``.
    """
    root = Path(qa_dir)
    videos = load_qa_questions(root / "activitynet_qa" if (root / "activitynet_qa").is_dir()
                               else root)
    return {name: {"video_name": name, "file_name": video_file_stem(name) + ".mp4",
                   "split": split, "num_questions": len(ids)}
            for name, (split, ids) in videos.items()}


def read_qa_index(path: str | Path | None = None) -> dict[str, tuple[str, int]]:
    """The shipped ActivityNet-QA index: video id -> (split, number of questions)."""
    path = Path(path) if path is not None else manifests_dir() / QA_INDEX
    if not path.is_file():
        raise ManifestError("ActivityNet-QA video index not found", path,
                            "pass --qa-dir with the ActivityNet-QA question files")
    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            return {row["video_id"]: (row["split"], int(row["num_questions"]))
                    for row in csv.DictReader(f)}
        except (KeyError, ValueError) as exc:
            raise ManifestError(f"bad row ({exc})", path,
                                "regenerate it with write_qa_index()") from None


def write_qa_index(qa_dir: str | Path, path: str | Path) -> Path:
    """Write the compact index (video_id, split, num_questions, file_name) of the QA files."""
    videos = load_qa_questions(qa_dir)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["video_id", "split", "num_questions", "file_name"])
        for vid in sorted(videos, key=lambda v: (SPLITS.index(videos[v][0]), v)):
            writer.writerow([vid, videos[vid][0], len(videos[vid][1]), f"v_{vid}.mp4"])
    return Path(path)


QA_SUBSET_DIR = "activitynet_qa"  # a prepared folder's copy of the questions of its videos


def write_qa_subset(qa_dir: str | Path, video_names: set[str], out_dir: str | Path) -> Path:
    """Copy the questions and answers of ``video_names`` from the official files in
    ``qa_dir`` into ``out_dir/{split}_{q,a}.json`` (every split written, possibly empty), so
    that a prepared folder carries the questions of the videos it holds."""
    qa_dir, out_dir = Path(qa_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        questions = [q for q in _read_json_list(qa_dir / f"{split}_q.json",
                                                ("video_name", "question", "question_id"))
                     if str(q["video_name"]) in video_names]
        ids = {str(q["question_id"]) for q in questions}
        answers = [a for a in _read_json_list(qa_dir / f"{split}_a.json",
                                              ("answer", "type", "question_id"))
                   if str(a["question_id"]) in ids]
        write_json_atomic(out_dir / f"{split}_q.json", questions)
        write_json_atomic(out_dir / f"{split}_a.json", answers)
    return out_dir

"""VideoQA: GloVe words, the E-SA model, ActivityNet-QA, the synthetic QA set, training."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import torch

from vcop_lab.errors import CheckpointError, VcopError
from vcop_lab.models.esa import ESA
from vcop_lab.qa import activitynet as anet
from vcop_lab.qa.activitynet import (
    TYPE_COLUMNS,
    AnswerVocabulary,
    QAItem,
    filter_to_available,
    majority_baseline,
    per_type_accuracy,
)
from vcop_lab.qa.glove import Vocabulary, embedding_matrix, load_glove, pad_batch, tokenize
from vcop_lab.qa.synthetic_qa import answer_distribution, by_split, make_synthetic_qa
from vcop_lab.qa.train import load_esa, predict, save_esa, train_esa

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
GLOVE_50D = REALDATA / "glove" / "glove.6B.50d.activitynetqa_vocab.txt"
QA_DIR = REALDATA / "activitynet_qa"


def needs(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent")


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: one thread is fastest, and two threads on a busy 2-core
    machine can be a hundred times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- GloVe
def write_glove(path: Path, rows: dict[str, list[float]]) -> Path:
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items()))
    return path


def test_tokenize_splits_punctuation_and_keeps_digits():
    assert tokenize("What's the No.3 player's T-shirt colour?") == [
        "what", "s", "the", "no", "3", "player", "s", "t", "shirt", "colour",
    ]  # fmt: skip


def test_load_glove_from_realdata():
    needs(GLOVE_50D)
    words, vectors = load_glove(GLOVE_50D, vocab={"the", "red", "circle", "zzqxw"})
    assert sorted(words) == ["circle", "red", "the"]
    assert vectors.shape == (3, 50) and vectors.dtype.name == "float32"
    assert vectors[words.index("the")][0] == pytest.approx(0.418)


def test_load_glove_tiny_file_infers_dimension(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("red 1 2 3\nblue 4 5 6\nred 7 8 9\n")  # a repeated word keeps its first row
    words, vectors = load_glove(path)
    assert words == ["red", "blue"] and vectors.tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    "text, problem",
    [("a 1 2 3\nb 4 5\n", "line 2 has 2 values, expected 3"), ("a 1 2\nb 3 x\n", "line 2")],
)
def test_load_glove_malformed_names_file_and_line(tmp_path, text, problem):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(VcopError) as err:
        load_glove(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_load_glove_missing_file(tmp_path):
    with pytest.raises(VcopError, match="not found"):
        load_glove(tmp_path / "nope.txt")


def test_oov_words_get_a_trainable_row_and_glove_rows_stay_fixed(tmp_path):
    glove = load_glove(write_glove(tmp_path / "g.txt", {"red": [1.0, 0, 0], "ball": [0, 1.0, 0]}))
    vocab = Vocabulary.build(["is the red ball zzqx", "red ball"])
    matrix, from_glove = embedding_matrix(vocab, glove)
    rows = {w: i for i, w in enumerate(vocab.itos)}
    assert from_glove[rows["red"]] and from_glove[rows["ball"]]
    assert not from_glove[rows["zzqx"]] and not from_glove[rows["<unk>"]]
    assert matrix[rows["red"]].tolist() == [1.0, 0, 0]
    assert matrix[rows["<pad>"]].abs().sum() == 0

    torch.manual_seed(0)
    model = ESA(len(vocab), 3, video_dim=4, hidden=8, embeddings=matrix, from_glove=from_glove)
    tuned = ESA(
        len(vocab), 3, video_dim=4, hidden=8, embeddings=matrix, from_glove=from_glove,
        finetune_glove=True,
    )  # fmt: skip
    words = torch.tensor([[rows["red"], rows["zzqx"]]])
    before = model.embed(words).detach().clone()
    for m in (model, tuned):
        opt = torch.optim.Adam(m.parameters(), lr=0.1)
        m.embed(words).sum().backward()
        opt.step()
    after = model.embed(words).detach()
    assert torch.equal(after[0, 0], before[0, 0])  # GloVe row fixed
    assert not torch.equal(after[0, 1], before[0, 1])  # the missing word's row learns
    assert not torch.equal(tuned.embed(words)[0, 0].detach(), before[0, 0])  # fine-tuned


# ----------------------------------------------------------------------------- E-SA
def test_esa_shapes_attention_and_padding_invariance():
    torch.manual_seed(0)
    model = ESA(30, 7, video_dim=16, embed_dim=12, hidden=10).eval()
    questions = [[3, 4], [5, 6, 7, 8, 9], [10, 11, 12]]
    tokens, lengths = pad_batch(questions)
    video = torch.randn(3, 20, 16)
    logits, weights = model(video, tokens, lengths)
    assert logits.shape == (3, 7) and weights.shape == (3, 20)
    assert torch.allclose(weights.sum(1), torch.ones(3), atol=1e-6)
    assert (weights >= 0).all()
    for i, q in enumerate(questions):
        single, w = model(video[i : i + 1], torch.tensor([q]), torch.tensor([len(q)]))
        assert torch.allclose(single[0], logits[i], atol=1e-5)
        assert torch.allclose(w[0], weights[i], atol=1e-6)
    with pytest.raises(ValueError, match="video features"):
        model(torch.randn(3, 20, 8), tokens, lengths)


def test_esa_attention_follows_the_question():
    """Attention is computed from the question: two questions give different weights."""
    torch.manual_seed(1)
    model = ESA(30, 5, video_dim=8, embed_dim=8, hidden=8).eval()
    video = torch.randn(1, 20, 8).repeat(2, 1, 1)
    _, weights = model(video, torch.tensor([[3, 4], [20, 21]]), torch.tensor([2, 2]))
    assert not torch.allclose(weights[0], weights[1])


# ----------------------------------------------------------------------------- ActivityNet-QA
@pytest.fixture(scope="module")
def anet_splits():
    needs(QA_DIR)
    return {s: anet.load_activitynet_qa(s, QA_DIR) for s in anet.SPLITS}


def test_activitynet_counts_match_the_readme(anet_splits):
    expected = {"train": (32000, 3200), "val": (18000, 1800), "test": (8000, 800)}
    for split, (pairs, videos) in expected.items():
        items = anet_splits[split]
        assert len(items) == pairs
        assert len({i.video_name for i in items}) == videos
        assert {i.split for i in items} == {split}
        assert {i.type_code for i in items} == set(range(9))


def test_answer_vocabulary_comes_from_training_answers_only(anet_splits):
    train, test = anet_splits["train"], anet_splits["test"]
    train_answers = {i.answer for i in train}
    vocab = AnswerVocabulary.build(train, top_k=100_000)
    assert set(vocab.answers) == train_answers
    only_in_test = {i.answer for i in test} - train_answers
    assert only_in_test and not (only_in_test & set(vocab.answers))
    top = AnswerVocabulary.build(train, top_k=10)
    assert len(top) == 10 and top.answers[:2] == ["yes", "no"]
    assert 0 < top.coverage(test) < vocab.coverage(test) < 1


def test_outside_answers_count_as_wrong():
    def item(answer, code=5, split="train"):
        return QAItem("q", "v", "what", answer, code, split)

    vocab = AnswerVocabulary.build([item("a"), item("a"), item("b")], top_k=1)
    assert vocab.answers == ["a"] and vocab.encode("b") == -1
    assert vocab.coverage([item("a"), item("b"), item("c")]) == pytest.approx(1 / 3)


def test_filter_to_available_keeps_the_one_video_on_disk(tmp_path, anet_splits):
    (tmp_path / "v_GGSY1Qvo990.mp4").touch()
    (tmp_path / "GGSY1Qvo990.txt").touch()  # not a video: ignored
    val = anet_splits["val"]
    kept, n_missing_q, n_missing_v = filter_to_available(val, tmp_path)
    assert {i.question_id for i in kept} == {f"v_GGSY1Qvo990_{k}" for k in range(1, 11)}
    assert n_missing_q == len(val) - 10 and n_missing_v == 1799
    with pytest.raises(VcopError, match="not found"):
        filter_to_available(val, tmp_path / "absent")


def test_activitynet_video_names_and_manifest(anet_splits):
    rows = anet.activitynet_qa_manifest(REALDATA)
    assert len(rows) == 5800
    assert rows["GGSY1Qvo990"] == {
        "video_name": "GGSY1Qvo990",
        "file_name": "v_GGSY1Qvo990.mp4",
        "split": "val",
        "num_questions": 10,
    }
    # a YouTube id that itself starts with "v_" keeps it after the added prefix
    assert rows["v_UmAH95xls"]["file_name"] == "v_v_UmAH95xls.mp4"
    assert sum(r["num_questions"] for r in rows.values()) == 58000


def test_load_activitynet_reports_mismatched_files(tmp_path):
    (tmp_path / "val_q.json").write_text(
        '[{"video_name": "a", "question": "what", "question_id": "v_a_1"}]'
    )
    (tmp_path / "val_a.json").write_text('[{"answer": "x", "type": 3, "question_id": "v_a_2"}]')
    with pytest.raises(VcopError, match="1 questions have no answer"):
        anet.load_activitynet_qa("val", tmp_path)
    with pytest.raises(VcopError, match="not found"):
        anet.load_activitynet_qa("test", tmp_path)


def test_per_type_accuracy_lays_out_table_vi():
    codes = [0, 0, 1, 3, 4, 8, 8]
    correct = [True, False, True, True, False, True, False]
    acc = per_type_accuracy(codes, correct)
    assert tuple(acc) == TYPE_COLUMNS
    # fractions, as every accuracy of the toolkit
    assert acc["Motion"] == 0.5 and acc["Spat. Rel."] == 1.0 and acc["Temp. Rel."] is None
    assert acc["Free"] == pytest.approx(2 / 4)  # codes 3, 4, 8, 8
    assert acc["Y/N"] == 1.0 and acc["Color"] == 0.0 and acc["Other"] == 0.5
    assert acc["Obj."] is None and acc["Loc."] is None and acc["Num."] is None
    assert acc["All"] == pytest.approx(4 / 7)


# ----------------------------------------------------------------------------- synthetic QA
COLOURS = ["red", "green", "blue", "yellow", "white"]
SHAPES = ["circle", "square", "triangle"]
MOTIONS = {  # label: (direction, start region, end region, unit step)
    "rising": ("up", "bottom", "top", (0, -1)),
    "falling": ("down", "top", "bottom", (0, 1)),
    "moving left": ("left", "right", "left", (-1, 0)),
    "moving right": ("right", "left", "right", (1, 0)),
}
REGION_XY = {"top": (56, 15), "bottom": (56, 97), "left": (15, 56), "right": (97, 56)}


def fake_record(i: int, rng: random.Random, frames: int = 24) -> dict:
    """A ground-truth record in the generator's schema (112x112 frames)."""
    label = rng.choice(sorted(MOTIONS))
    direction, start, end, (ux, uy) = MOTIONS[label]
    speed = rng.choice([1.5, 3.0])  # pixels per frame
    x0, y0 = REGION_XY[start]
    actor_traj = [[x0 + ux * speed * t, y0 + uy * speed * t, 10, 0] for t in range(frames)]
    objects = [
        {"role": "actor", "shape": rng.choice(SHAPES), "colour": rng.choice(COLOURS),
         "size": 10, "trajectory": actor_traj},
    ]  # fmt: skip
    for _ in range(rng.randint(0, 2)):
        x, y = rng.uniform(10, 100), rng.uniform(10, 100)
        objects.append(
            {"role": "distractor", "shape": rng.choice(SHAPES), "colour": rng.choice(COLOURS),
             "size": 8, "trajectory": [[x, y, 8, 0]] * frames}
        )  # fmt: skip
    return {
        "path": f"videos/{label.replace(' ', '_')}/{i:04d}.mp4",
        "label": label,
        "split": "test" if i % 4 == 0 else "train",
        "style": "plain",
        "num_frames": frames,
        "fps": 25.0,
        "width": 112,
        "height": 112,
        "background": {"texture": "flat", "colour": rng.choice(["black", "grey"])},
        "camera_drift": [0.0, 0.0],
        "objects": objects,
        "num_objects": len(objects),
        "events": [{"frame": 0, "name": "start"}, {"frame": frames - 1, "name": "end"}],
        "start_region": start,
        "end_region": end,
        "direction": direction,
        "speed": "fast" if speed > 2 else "slow",
        "periodic": rng.random() < 0.3,
    }


def fake_ground_truth(n: int, seed: int = 0) -> dict[str, dict]:
    rng = random.Random(seed)
    records = [fake_record(i, rng) for i in range(n)]
    return {r["path"]: r for r in records}


HANDMADE = {
    "path": "videos/moving_right/0001.mp4",
    "label": "moving right",
    "split": "train",
    "num_frames": 3,
    "width": 112,
    "height": 112,
    "background": {"texture": "flat", "colour": "black"},
    "objects": [
        {
            "role": "actor",
            "shape": "circle",
            "colour": "red",
            "size": 10,
            "trajectory": [[10, 50, 10, 0], [50, 50, 10, 0], [100, 50, 10, 0]],
        },
        {
            "role": "distractor",
            "shape": "square",
            "colour": "blue",
            "size": 8,
            "trajectory": [[60, 20, 8, 0]] * 3,
        },
    ],  # fmt: skip
    "num_objects": 2,
    "events": [{"frame": 0, "name": "appear"}, {"frame": 2, "name": "stop"}],
    "start_region": "left",
    "end_region": "right",
    "direction": "right",
    "speed": 40.0,
    "periodic": False,
}
# Every question the generator can ask about HANDMADE, with the answer read off by hand.
# (The red circle runs left to right at y=50, below the blue square at (60, 20).)
HANDMADE_ANSWERS = {
    "what is the red circle doing": "moving right",
    "in which direction does the red circle move": "right",
    "is the red circle left of the blue square at the start": "yes",
    "is the red circle right of the blue square at the start": "no",
    "is the red circle left of the blue square at the end": "no",
    "is the red circle right of the blue square at the end": "yes",
    "where is the red circle relative to the blue square at the start": "left",
    "where is the red circle relative to the blue square at the end": "right",
    "is the red circle closer to the left at the start or at the end": "start",
    "is the red circle closer to the right at the start or at the end": "end",
    "what happens right after the appear": "stop",
    "does the appear happen before the stop": "yes",
    "does the stop happen before the appear": "no",
    "what colour is the moving object": "red",
    "what colour is the circle": "red",
    "what colour is the square": "blue",
    "what colour is the background": "black",
    "what shape is the moving object": "circle",
    "what shape is the red object": "circle",
    "what shape is the blue object": "square",
    "where does the red circle end up": "right",
    "where does the red circle start": "left",
    "how many objects are there": "2",
    "how many red objects are there": "1",
    "how many blue objects are there": "1",
    "how fast does the red circle move": "fast",  # above the median of [40, 10]
    "does the red circle repeat the same motion over and over": "no",
}
for _word, _yes in (("above", False), ("below", True)):
    for _when in ("start", "end"):
        HANDMADE_ANSWERS[f"is the red circle {_word} the blue square at the {_when}"] = (
            "yes" if _yes else "no"
        )


def test_synthetic_answers_follow_the_ground_truth():
    slow = dict(HANDMADE, path="videos/x/slow.mp4", speed=10.0)
    gt = {HANDMADE["path"]: HANDMADE, slow["path"]: slow}
    asked = set()
    for seed in range(40):
        items = [
            i
            for i in make_synthetic_qa(gt, seed=seed, per_video=40)
            if i.video_name == HANDMADE["path"]
        ]
        for item in items:
            asked.add(item.question)
            m = re.fullmatch(r"is there an? (.+)", item.question)
            if m:  # colours/shapes present: red, blue, circle, square, red circle, blue square
                thing = m.group(1).removesuffix(" object")
                present = {"red", "blue", "circle", "square", "red circle", "blue square"}
                assert item.answer == ("yes" if thing in present else "no"), item
                assert item.type_code == 3
                continue
            assert item.question in HANDMADE_ANSWERS, item.question
            assert item.answer == HANDMADE_ANSWERS[item.question], item
    # nearly every template was used
    assert len(asked & set(HANDMADE_ANSWERS)) >= len(HANDMADE_ANSWERS) - 2


def test_synthetic_qa_types_splits_and_determinism():
    gt = fake_ground_truth(120)
    items = make_synthetic_qa(gt, seed=3)
    assert {i.type_code for i in items} == set(range(9))
    assert items == make_synthetic_qa(gt, seed=3)
    assert items != make_synthetic_qa(gt, seed=4)
    splits = by_split(items)
    assert all(splits[s] for s in ("train", "val", "test"))
    video_split = {}
    for item in items:
        assert video_split.setdefault(item.video_name, item.split) == item.split
        assert item.video_name in gt
    assert {v for v, s in video_split.items() if s == "test"} == {
        p for p, r in gt.items() if r["split"] == "test"
    }
    assert len(items) == len({i.question_id for i in items})
    yes_no = [i.answer for i in items if i.type_code == 3]
    assert set(yes_no) == {"yes", "no"}
    assert 0.4 <= yes_no.count("yes") / len(yes_no) <= 0.6
    dist = answer_distribution(items)
    assert set(dist["Y/N"]) == {"yes", "no"} and sum(dist["All"].values()) == len(items)


def test_synthetic_qa_on_the_generators_ground_truth():
    """Records rendered by the real generator (one video per class and style, no encoding)."""
    import numpy as np

    from vcop_lab.data import synthetic

    cfg = synthetic.PRESETS["smoke"]
    gt = {}
    for style in synthetic.STYLES:
        for k, label in enumerate(synthetic.CLASSES[style]):
            rng = np.random.default_rng(synthetic.video_seed(0, style, label, 0))
            _, truth = synthetic.render_video(label, style, rng, cfg)
            path = f"{style}/{label}/0.mp4"
            gt[path] = {"path": path, "split": "test" if k % 3 == 0 else "train", **truth}
    items = make_synthetic_qa(gt, seed=0, per_video=20)
    assert {i.type_code for i in items} == set(range(9))
    checked = 0
    for item in items:
        r = gt[item.video_name]
        actor = r["objects"][0]
        rules = {
            r"what is the .+ doing": r["label"].replace("_", " "),
            r"where does the .+ end up": r["end_region"],
            r"where does the .+ start": r["start_region"],
            r"how many objects are there": str(len(r["objects"])),
            r"what colour is the (moving|main) object": actor["colour"],
            r"what shape is the (moving|main) object": actor["shape"],
            r"how fast does the .+ move": r["speed"],
            r"what colour is the background": r["background"]["colour"],
        }
        for pattern, answer in rules.items():
            if re.fullmatch(pattern, item.question):
                assert item.answer == answer, (item, answer)
                checked += 1
        m = re.fullmatch(r"is the (.+) (left of|right of|above|below) the (.+) at the (start|end)",
                         item.question)  # fmt: skip
        if m:
            other = next(o for o in r["objects"] if f"{o['colour']} {o['shape']}" == m[3])
            a, b = actor["trajectory"][0 if m[4] == "start" else -1], other["trajectory"][
                0 if m[4] == "start" else -1]  # fmt: skip
            holds = {"left of": a[0] < b[0], "right of": a[0] > b[0], "above": a[1] < b[1],
                     "below": a[1] > b[1]}[m[2]]  # fmt: skip
            assert item.answer == ("yes" if holds else "no"), item
            checked += 1
    assert checked > len(items) // 3


def test_synthetic_qa_missing_field_is_a_clear_error():
    record = dict(HANDMADE)
    del record["end_region"]
    with pytest.raises(VcopError, match="end_region") as err:
        make_synthetic_qa({record["path"]: record}, per_video=40)
    assert record["path"] in str(err.value)
    record = dict(HANDMADE, objects=[dict(HANDMADE["objects"][0], colour=[255, 0, 0])])
    with pytest.raises(VcopError, match="not a colour name"):
        make_synthetic_qa({record["path"]: record})


def test_majority_baseline_uses_training_answers_per_type():
    train = [QAItem(f"t{k}", "v", "q", a, c) for k, (a, c) in enumerate(
        [("yes", 3), ("yes", 3), ("no", 3), ("red", 4), ("red", 4), ("blue", 4)])]  # fmt: skip
    test = [QAItem(f"s{k}", "w", "q", a, c) for k, (a, c) in enumerate(
        [("yes", 3), ("no", 3), ("blue", 4), ("red", 4), ("red", 4)])]  # fmt: skip
    base = majority_baseline(train, test)
    assert base["Y/N"] == 0.5 and base["Color"] == pytest.approx(2 / 3)
    assert base["All"] == pytest.approx(0.6) and base["Motion"] is None


# ----------------------------------------------------------------------------- training
def informative_features(gt: dict[str, dict], noise: float, seed: int = 0) -> dict:
    """20 clips x 24 dims: the actor's colour in clips 0-4, its shape in 5-9, the motion in
    10-14, and the number of objects in 15-19 (one-hot), plus Gaussian noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = sorted(MOTIONS)
    feats = {}
    for path, r in gt.items():
        actor = r["objects"][0]
        f = noise * torch.randn(20, 24, generator=gen)
        f[0:5, COLOURS.index(actor["colour"])] += 1
        f[5:10, 5 + SHAPES.index(actor["shape"])] += 1
        f[10:15, 8 + labels.index(r["label"])] += 1
        f[15:20, 12 + r["num_objects"]] += 1
        feats[path] = f
    return feats


@pytest.fixture(scope="module")
def tiny_qa():
    gt = fake_ground_truth(160, seed=1)
    return gt, by_split(make_synthetic_qa(gt, seed=0))


def test_esa_learns_from_informative_features_and_not_from_noise(tmp_path, tiny_qa):
    gt, splits = tiny_qa
    glove = GLOVE_50D if GLOVE_50D.exists() else None
    settings = dict(epochs=15, batch_size=32, lr=3e-3, hidden=32, seed=0, progress=False)
    args = (splits["train"], splits["val"], splits["test"])
    model, metrics = train_esa(*args, informative_features(gt, 0.1), glove, **settings)
    base = metrics["majority_baseline"]
    assert tuple(metrics["test"]) == TYPE_COLUMNS
    assert metrics["test"]["All"] > base["All"] + 0.15
    for column in ("Color", "Obj.", "Motion"):
        assert metrics["test"][column] > base[column] + 0.20, column
    assert len(metrics["history"]) == 15
    assert metrics["val"]["All"] == max(h["val_acc"] for h in metrics["history"])

    gen = torch.Generator().manual_seed(1)
    noise = {p: torch.randn(20, 24, generator=gen) for p in gt}
    _, noisy = train_esa(*args, noise, glove, **settings)
    # Noise leaves only the language prior (e.g. which template a colour question uses).
    assert noisy["test"]["All"] < base["All"] + 0.15
    assert noisy["test"]["All"] < metrics["test"]["All"] - 0.20

    # predictions for a notebook, and a saved model that gives the same ones
    shown = predict(model, splits["test"][:5], informative_features(gt, 0.1))
    assert len(shown) == 5 and all(isinstance(a, str) and w.shape == (20,) for a, w in shown)
    again = predict(load_esa(save_esa(model, tmp_path / "esa.pt")), splits["test"][:5],
                    informative_features(gt, 0.1))  # fmt: skip
    assert [a for a, _ in again] == [a for a, _ in shown]


def test_train_esa_is_deterministic_and_reports_missing_features(tiny_qa):
    gt, splits = tiny_qa
    feats = informative_features(gt, 0.1)
    settings = dict(epochs=2, batch_size=64, hidden=16, seed=5, progress=False)
    args = (splits["train"][:200], splits["val"][:50], splits["test"][:50])
    _, a = train_esa(*args, feats, None, **settings)
    _, b = train_esa(*args, feats, None, **settings)
    assert a["history"] == b["history"] and a["test"] == b["test"]
    del feats[splits["test"][0].video_name]
    with pytest.raises(VcopError, match="no clip features"):
        train_esa(*args, feats, None, **settings)


def test_load_esa_rejects_a_foreign_file(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"kind": "vcop"}, path)
    with pytest.raises(CheckpointError, match="not an E-SA"):
        load_esa(path)

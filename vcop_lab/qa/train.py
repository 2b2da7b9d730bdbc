"""Train and evaluate E-SA on clip features (the paper's Table VI protocol).

The caller brings the features: ``{video_name: Tensor (num_clips, D)}``, 20 clips of 16
frames per video from a frozen backbone (any checkpoint, or a random one for the baseline).
Words come from the training questions, answers are the K most frequent training answers,
Adam trains the model, and the epoch with the best validation accuracy is kept.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vcop_lab.errors import CheckpointError, VcopError
from vcop_lab.models.esa import ESA
from vcop_lab.qa.activitynet import AnswerVocabulary, QAItem, majority_baseline, per_type_accuracy
from vcop_lab.qa.glove import Vocabulary, embedding_matrix, load_glove, pad_batch


class _Encoded:
    """Items turned into tensors once: question ids, answer index (-1 = outside), type, video."""

    def __init__(self, items, vocab, answers, video_index):
        self.questions = [vocab.encode(item.question) for item in items]
        self.answers = torch.tensor([answers.encode(item.answer) for item in items])
        self.types = [item.type_code for item in items]
        self.videos = torch.tensor([video_index[item.video_name] for item in items])

    def __len__(self) -> int:
        return len(self.questions)

    def batch(self, idx: torch.Tensor, video_table: torch.Tensor, device):
        tokens, lengths = pad_batch([self.questions[i] for i in idx.tolist()])
        video = video_table[self.videos[idx]].to(device)
        return video, tokens.to(device), lengths, self.answers[idx].to(device)


def _as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu()
    return torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: memory maps stay read-only


def _stack_features(
    items_by_split: Mapping[str, Sequence[QAItem]], features: Mapping[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, int]]:
    """One (V, num_clips, D) float tensor for the videos the items need, and name -> row."""
    names = sorted({item.video_name for items in items_by_split.values() for item in items})
    missing = [n for n in names if n not in features]
    if missing:
        raise VcopError(
            f"{len(missing)} of {len(names)} videos have no clip features "
            f"(first: {', '.join(missing[:3])})",
            fix="extract features for them, or drop their questions "
            "(vcop_lab.qa.activitynet.filter_to_available)",
        )
    shapes = {tuple(features[n].shape) for n in names}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise VcopError(
            f"clip features must all have one shape (num_clips, D); found {sorted(shapes)[:3]}",
            fix="extract the same number of clips with the same backbone for every video",
        )
    table = torch.stack([_as_tensor(features[n]) for n in names])
    return table, {n: i for i, n in enumerate(names)}


@torch.no_grad()
def _run(model: ESA, data: _Encoded, video_table, device, batch_size: int = 256):
    """Predicted answer indices and attention weights for every item of ``data``."""
    model.eval()
    preds, weights = [], []
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data)))
        video, tokens, lengths, _ = data.batch(idx, video_table, device)
        logits, att = model(video, tokens, lengths)
        preds.append(logits.argmax(1).cpu())
        weights.append(att.cpu())
    return torch.cat(preds), torch.cat(weights)


def _accuracy(model, data: _Encoded, video_table, device) -> dict[str, float | None]:
    preds, _ = _run(model, data, video_table, device)
    # Answers outside the vocabulary are -1 and never equal a prediction: counted wrong.
    return per_type_accuracy(data.types, (preds == data.answers).tolist())


def train_esa(
    train_items: Sequence[QAItem],
    val_items: Sequence[QAItem],
    test_items: Sequence[QAItem],
    features: Mapping[str, torch.Tensor],
    glove_path: str | Path | None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    hidden: int = 300,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    top_k: int = 1000,
    finetune_glove: bool = False,
    dropout: float = 0.3,
    embed_dim: int = 50,
) -> tuple[ESA, dict]:
    """Train E-SA on ``train_items``, keep the best epoch on ``val_items``, test on ``test_items``.

    ``glove_path`` None trains all word vectors from scratch (``embed_dim``). Returns the
    model (with ``model.vocab`` and ``model.answer_vocab`` attached, for :func:`predict`) and
    a metrics dict: ``test`` and ``val`` accuracy per Table VI column, ``majority_baseline``
    (most frequent training answer per type, on the test items), ``history`` (per epoch:
    train loss and accuracy, val accuracy), ``best_epoch``, answer coverage, and counts.
    Deterministic for a given seed on the CPU.
    """
    if not train_items or not val_items or not test_items:
        raise VcopError(
            "train, val and test items must all be non-empty",
            fix="check the splits (make_synthetic_qa carves val from train)",
        )
    device = torch.device(device)
    torch.manual_seed(seed)
    video_table, video_index = _stack_features(
        {"train": train_items, "val": val_items, "test": test_items}, features
    )
    vocab = Vocabulary.build(item.question for item in train_items)
    answer_vocab = AnswerVocabulary.build(train_items, top_k=top_k)
    if glove_path is not None:
        glove = load_glove(glove_path, vocab=set(vocab.itos))
        if not glove[0]:
            raise VcopError(
                "the GloVe file knows none of the question words",
                path=glove_path,
                fix="use an English GloVe file",
            )
        matrix, from_glove = embedding_matrix(vocab, glove, seed=seed)
    else:
        matrix, from_glove = None, None
    model = ESA(
        len(vocab),
        len(answer_vocab),
        video_dim=video_table.shape[-1],
        embed_dim=embed_dim,
        hidden=hidden,
        embeddings=matrix,
        from_glove=from_glove,
        finetune_glove=finetune_glove,
        dropout=dropout,
    ).to(device)
    model.vocab, model.answer_vocab = vocab, answer_vocab

    train = _Encoded(train_items, vocab, answer_vocab, video_index)
    val = _Encoded(val_items, vocab, answer_vocab, video_index)
    test = _Encoded(test_items, vocab, answer_vocab, video_index)
    # A training answer outside the top K cannot be a target: train on the rest, say how many.
    trainable = torch.nonzero(train.answers >= 0).squeeze(1)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)

    history, best_val, best_epoch, best_state = [], -1.0, 0, None
    bar = tqdm(range(1, epochs + 1), desc="E-SA", disable=not progress)
    for epoch in bar:
        model.train()
        order = trainable[torch.randperm(len(trainable), generator=gen)]
        total_loss, hits = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            video, tokens, lengths, target = train.batch(idx, video_table, device)
            logits, _ = model(video, tokens, lengths)
            loss = F.cross_entropy(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
            hits += (logits.argmax(1) == target).sum().item()
        val_acc = _accuracy(model, val, video_table, device)["All"]
        history.append(
            {
                "epoch": epoch,
                "train_loss": total_loss / max(len(order), 1),
                "train_acc": 100.0 * hits / max(len(order), 1),
                "val_acc": val_acc,
            }
        )
        if val_acc > best_val:
            best_val, best_epoch = val_acc, epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", val=f"{val_acc:.1f}")
    if best_state is not None:
        model.load_state_dict(best_state)

    metrics = {
        "test": _accuracy(model, test, video_table, device),
        "val": _accuracy(model, val, video_table, device),
        "majority_baseline": majority_baseline(train_items, test_items),
        "best_epoch": best_epoch,
        "history": history,
        "num_answers": len(answer_vocab),
        "vocab_size": len(vocab),
        "glove_words": int(from_glove.sum()) if from_glove is not None else 0,
        "answer_coverage": {
            "train": 100.0 * answer_vocab.coverage(train_items),
            "val": 100.0 * answer_vocab.coverage(val_items),
            "test": 100.0 * answer_vocab.coverage(test_items),
        },
        "train_items_outside_vocabulary": len(train) - len(trainable),
        "num_items": {"train": len(train), "val": len(val), "test": len(test)},
    }
    return model, metrics


def predict(
    model: ESA, items: Sequence[QAItem], features: Mapping[str, torch.Tensor]
) -> list[tuple[str, torch.Tensor]]:
    """(predicted answer, attention weights over the clips) per item, for showing examples.

    ``model`` is one returned by :func:`train_esa` or :func:`load_esa` (it carries the
    question and answer vocabularies).
    """
    if not hasattr(model, "vocab") or not hasattr(model, "answer_vocab"):
        raise VcopError("this model carries no vocabularies", fix="use train_esa or load_esa")
    if not items:
        return []
    device = next(model.parameters()).device
    video_table, video_index = _stack_features({"items": items}, features)
    data = _Encoded(items, model.vocab, model.answer_vocab, video_index)
    preds, weights = _run(model, data, video_table, device)
    return [(model.answer_vocab.answers[p], w) for p, w in zip(preds.tolist(), weights)]


def save_esa(model: ESA, path: str | Path) -> Path:
    """Save weights, settings and vocabularies (atomically) for :func:`load_esa`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "kind": "esa",
            "config": model.config,
            "state_dict": model.state_dict(),
            "vocab": model.vocab.itos,
            "answers": model.answer_vocab.answers,
        },
        tmp,
    )
    tmp.replace(path)
    return path


def load_esa(path: str | Path, device: str | torch.device = "cpu") -> ESA:
    """An E-SA model saved by :func:`save_esa`, ready for :func:`predict`."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError("checkpoint not found", path=path, fix="train E-SA first") from None
    except Exception as e:  # a truncated or foreign file
        raise CheckpointError(f"cannot read checkpoint ({e})", path=path, fix="retrain") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "esa":
        raise CheckpointError("not an E-SA checkpoint", path=path, fix="pass one from save_esa")
    model = ESA(**ckpt["config"]).to(device)
    model.load_state_dict(ckpt["state_dict"])
    model.vocab = Vocabulary(ckpt["vocab"])  # <pad>, <unk> are recognised and kept first
    model.answer_vocab = AnswerVocabulary(ckpt["answers"])
    model.eval()
    return model

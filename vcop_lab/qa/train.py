"""Train and evaluate E-SA on clip features (the paper's Table VI protocol), through the one
training loop :func:`vcop_lab.train.fit` (resume, mixed precision on CUDA, checkpoints).

The caller brings the features: ``{video_name: Tensor (num_clips, D)}``, 20 clips of 16
frames per video from a frozen backbone (any checkpoint, or a random one for the baseline).
Words come from the training questions, answers are the K most frequent training answers,
Adam trains the model, and the epoch with the best validation accuracy is kept. Accuracies
are fractions in [0, 1], per Table VI column.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vcop_lab.checkpoint import load_checkpoint, save_checkpoint
from vcop_lab.errors import VcopError
from vcop_lab.evaluate.inference import collect
from vcop_lab.models.esa import ESA
from vcop_lab.qa.activitynet import AnswerVocabulary, QAItem, majority_baseline, per_type_accuracy
from vcop_lab.qa.glove import Vocabulary, embedding_matrix, load_glove, pad_batch
from vcop_lab.train import FitConfig, eval_loader, fit

# What a returned history keeps of each epoch (timings differ from run to run).
_HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


class QADataset(Dataset):
    """Questions turned into tensors once, with the clip features of their videos.

    Items: ``(video (num_clips, D), question ids, answer index (-1: outside the answer
    vocabulary), type code, position)``; :meth:`collate` pads the questions of a batch.
    """

    def __init__(self, items: Sequence[QAItem], vocab: Vocabulary, answers: AnswerVocabulary,
                 video_table: torch.Tensor, video_index: Mapping[str, int]):
        self.questions = [torch.tensor(vocab.encode(item.question)) for item in items]
        self.answers = torch.tensor([answers.encode(item.answer) for item in items])
        self.types = [item.type_code for item in items]
        self.videos = torch.tensor([video_index[item.video_name] for item in items])
        self.video_table = video_table

    def __len__(self) -> int:
        return len(self.questions)

    def __getitem__(self, index: int):
        i = int(index) % len(self)  # the epoch sampler hands out epoch * n + i
        return (self.video_table[self.videos[i]], self.questions[i], int(self.answers[i]),
                self.types[i], i)

    @staticmethod
    def collate(batch):
        video, questions, answers, types, index = zip(*batch, strict=True)
        tokens, lengths = pad_batch([q.tolist() for q in questions])
        return (torch.stack(video), tokens, lengths, torch.tensor(answers), torch.tensor(types),
                torch.tensor(index))


def esa_step(model, batch, device, channels_last: bool = False):
    """One training batch of questions -> (loss, correct, count)."""
    video, tokens, lengths, answers = batch[:4]
    answers = answers.to(device, non_blocking=True)
    logits, _ = model(video.to(device, non_blocking=True), tokens.to(device), lengths)
    loss = F.cross_entropy(logits, answers)
    return loss, (logits.argmax(1) == answers).sum().item(), answers.numel()


def esa_outputs(model, loader, device) -> dict[str, torch.Tensor]:
    """Predicted answer, attention weights, loss terms and type of every item of ``loader``."""
    def run(video, batch):
        tokens, lengths, answers = batch[1].to(device), batch[2], batch[3].to(device)
        logits, weights = model(video, tokens, lengths)
        logits = logits.float()
        # answers outside the vocabulary (-1) cannot be predicted: no loss, counted wrong
        loss = F.cross_entropy(logits, answers.clamp(min=0), reduction="none")
        return {"pred": logits.argmax(1), "weights": weights.float(), "answer": answers,
                "loss": torch.where(answers >= 0, loss, torch.zeros_like(loss)),
                "type": batch[4]}

    return collect(model, loader, device, run)


def evaluate_esa(model, loader, device) -> dict:
    """Validation loss and All accuracy (the training loop's hook)."""
    out = esa_outputs(model, loader, device)
    return {"loss": out["loss"].mean().item(),
            "acc": (out["pred"] == out["answer"]).sum().item() / max(len(out["pred"]), 1)}


def _accuracy(model, dataset: QADataset, device, batch_size: int) -> dict[str, float | None]:
    out = esa_outputs(model, _loader(dataset, batch_size, device), device)
    return per_type_accuracy(out["type"].tolist(), (out["pred"] == out["answer"]).tolist())


def _loader(dataset, batch_size: int, device):
    return eval_loader(dataset, batch_size, 0, torch.device(device))


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


def _esa_meta(model: ESA) -> dict:
    return {"kind": "esa", "config": model.config, "vocab": model.vocab.itos,
            "answers": model.answer_vocab.answers}


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
    device: str | torch.device | None = "cpu",
    progress: bool = True,
    top_k: int = 1000,
    finetune_glove: bool = False,
    dropout: float = 0.3,
    embed_dim: int = 50,
    out_dir: str | Path | None = None,
    resume: bool = False,
) -> tuple[ESA, dict]:
    """Train E-SA on ``train_items``, keep the best epoch on ``val_items``, test on ``test_items``.

    ``glove_path`` None trains all word vectors from scratch (``embed_dim``). Training runs
    through :func:`~vcop_lab.train.fit` into ``out_dir`` (its ``best.pt`` is the model;
    default: a temporary folder), resuming from its ``last.pt`` with ``resume``. Returns the
    model (with ``model.vocab`` and ``model.answer_vocab`` attached, for :func:`predict`) and
    a metrics dict: ``test`` and ``val`` accuracy per Table VI column (fractions),
    ``majority_baseline`` (most frequent training answer per type, on the test items),
    ``history`` (per epoch: train loss and accuracy, val loss and accuracy), ``best_epoch``,
    answer coverage, and counts. Deterministic for a given seed on the CPU.
    """
    if not train_items or not val_items or not test_items:
        raise VcopError(
            "train, val and test items must all be non-empty",
            fix="check the splits (make_synthetic_qa carves val from train)",
        )
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
    model = ESA(len(vocab), len(answer_vocab), video_dim=video_table.shape[-1],
                embed_dim=embed_dim, hidden=hidden, embeddings=matrix, from_glove=from_glove,
                finetune_glove=finetune_glove, dropout=dropout)
    model.vocab, model.answer_vocab = vocab, answer_vocab

    def dataset(items):
        return QADataset(items, vocab, answer_vocab, video_table, video_index)

    train, val, test = dataset(train_items), dataset(val_items), dataset(test_items)
    # A training answer outside the top K cannot be a target: train on the rest, say how many.
    trainable = [item for item, a in zip(train_items, train.answers.tolist(), strict=True)
                 if a >= 0]
    with tempfile.TemporaryDirectory() as scratch:
        cfg = FitConfig(out_dir=Path(out_dir) if out_dir is not None else Path(scratch),
                        epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adamw",
                        weight_decay=0.0, seed=seed, device=None if device is None
                        else str(device), best="val_acc", resume=resume, progress=progress,
                        log_epochs=False, meta=_esa_meta(model))
        result = fit(model, dataset(trainable), val, esa_step, evaluate_esa, cfg)
    dev = next(model.parameters()).device
    metrics = {
        "test": _accuracy(model, test, dev, 256),
        "val": _accuracy(model, val, dev, 256),
        "majority_baseline": majority_baseline(train_items, test_items),
        "best_epoch": result["best_epoch"],
        "history": [{k: h[k] for k in _HISTORY_KEYS} for h in result["history"]],
        "device": result["device"], "amp": result["amp"],
        "num_answers": len(answer_vocab),
        "vocab_size": len(vocab),
        "glove_words": int(from_glove.sum()) if from_glove is not None else 0,
        "answer_coverage": {
            "train": answer_vocab.coverage(train_items),
            "val": answer_vocab.coverage(val_items),
            "test": answer_vocab.coverage(test_items),
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
    data = QADataset(items, model.vocab, model.answer_vocab, video_table, video_index)
    out = esa_outputs(model, _loader(data, 256, device), device)
    return [(model.answer_vocab.answers[p], w)
            for p, w in zip(out["pred"].tolist(), out["weights"], strict=True)]


def save_esa(model: ESA, path: str | Path) -> Path:
    """Save weights, settings and vocabularies (atomically) for :func:`load_esa`."""
    return save_checkpoint({"model": model.state_dict(), "meta": _esa_meta(model)}, path)


def load_esa(path: str | Path, device: str | torch.device = "cpu") -> ESA:
    """An E-SA model saved by :func:`save_esa` (or the ``best.pt`` of its training), ready
    for :func:`predict`."""
    ckpt = load_checkpoint(path, kind="esa")
    meta = ckpt["meta"]
    model = ESA(**meta["config"]).to(device)
    model.load_state_dict(ckpt["model"])
    model.vocab = Vocabulary(meta["vocab"])  # <pad>, <unk> are recognised and kept first
    model.answer_vocab = AnswerVocabulary(meta["answers"])
    model.eval()
    return model

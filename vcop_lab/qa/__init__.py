"""Video question answering (the paper's Table VI): ActivityNet-QA, a synthetic QA set with
the same question types, GloVe question words, and training of the E-SA model."""

from __future__ import annotations

from .activitynet import (
    TYPE_COLUMNS,
    TYPE_NAMES,
    AnswerVocabulary,
    QAItem,
    activitynet_qa_manifest,
    answer_distribution,
    filter_to_available,
    load_activitynet_qa,
    majority_baseline,
    per_type_accuracy,
)
from .glove import DEFAULT_GLOVE_PATH, Vocabulary, embedding_matrix, load_glove, tokenize
from .synthetic_qa import by_split, make_synthetic_qa
from .train import load_esa, predict, save_esa, train_esa

__all__ = [
    "DEFAULT_GLOVE_PATH",
    "TYPE_COLUMNS",
    "TYPE_NAMES",
    "AnswerVocabulary",
    "QAItem",
    "Vocabulary",
    "activitynet_qa_manifest",
    "answer_distribution",
    "by_split",
    "embedding_matrix",
    "filter_to_available",
    "load_activitynet_qa",
    "load_esa",
    "load_glove",
    "majority_baseline",
    "make_synthetic_qa",
    "per_type_accuracy",
    "predict",
    "save_esa",
    "tokenize",
    "train_esa",
]

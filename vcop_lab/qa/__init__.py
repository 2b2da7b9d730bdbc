"""Video question answering (the paper's Table VI): ActivityNet-QA, a synthetic QA set with
the same question types and GloVe question words (this package's data parts, re-exported
here); the training of E-SA is in :mod:`vcop_lab.qa.train`, the experiments in
:mod:`vcop_lab.qa.run`."""

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
from .glove import Vocabulary, embedding_matrix, load_glove, tokenize
from .synthetic_qa import by_split, make_synthetic_qa

__all__ = [
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
    "load_glove",
    "majority_baseline",
    "make_synthetic_qa",
    "per_type_accuracy",
    "tokenize",
]

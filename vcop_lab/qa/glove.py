"""Question words: tokenising, a word vocabulary, and GloVe vectors for it.

GloVe ships as plain text, one word per line followed by its vector, values separated by
single spaces (``the 0.418 0.24968 ...``). The paper uses the 300-d vectors.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from vcop_lab.errors import VcopError

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(question: str) -> list[str]:
    """Lower-case words and numbers of ``question``; punctuation separates words.

    ``"What's the no.3 player's t-shirt colour?"`` -> ``what s the no 3 player s t shirt
    colour``: GloVe 6B splits the same way, so the pieces are words it knows.
    """
    return _TOKEN.findall(question.lower())


def load_glove(
    path: str | Path, vocab: set[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Read a GloVe text file -> ``(words, vectors)`` with ``vectors`` float32 of shape (n, dim).

    The dimension is taken from the first vector (50, 100, 200, 300 all work). With ``vocab``
    only those words are kept; lines of other words are skipped without being parsed, which
    makes the 400k-word files quick to read. A repeated word keeps its first vector.
    """
    path = Path(path)
    if not path.is_file():
        raise VcopError(
            "GloVe file not found",
            path=path,
            fix="pass the path of a GloVe text file such as glove.6B.300d.txt "
            "(https://nlp.stanford.edu/projects/glove/)",
        )
    words: list[str] = []
    rows: list[list[float]] = []
    try:
        with open(path, encoding="utf-8") as f:
            dim = _parse_lines(f, path, vocab, words, rows)
    except UnicodeDecodeError:
        raise VcopError(
            f"not UTF-8 text (after {len(words)} vectors)",
            path=path,
            fix="pass a GloVe text file",
        ) from None
    if dim is None:
        raise VcopError("GloVe file holds no vectors", path=path, fix="check the file")
    return words, np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)


def _parse_lines(
    lines: Iterable[str],
    path: Path,
    vocab: set[str] | None,
    words: list[str],
    rows: list[list[float]],
) -> int | None:
    """Append the parsed lines to ``words`` and ``rows``; return the vector size."""
    fix = "re-download the GloVe file or repair that line"
    seen: set[str] = set()
    dim = None
    for line_no, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if line_no == 1 and _is_word2vec_header(line):
            continue  # "400000 300": a word2vec-style header some converted files carry
        word, _, rest = line.partition(" ")
        if vocab is not None and word not in vocab:
            continue
        values = rest.split(" ")
        if dim is None:
            dim = len(values)
        if len(values) != dim or not word or not rest:
            raise VcopError(
                f"line {line_no} has {len(values) if rest else 0} values, expected {dim} "
                "(a GloVe line is 'word v1 v2 ...' with one space between fields)",
                path=path,
                fix=fix,
            )
        try:
            vector = [float(v) for v in values]
        except ValueError:
            raise VcopError(
                f"line {line_no}: the vector of {word!r} holds a value that is not a number",
                path=path,
                fix=fix,
            ) from None
        if word not in seen:
            seen.add(word)
            words.append(word)
            rows.append(vector)
    return dim


def _is_word2vec_header(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


class Vocabulary:
    """Word -> index for question tokens. Index 0 is ``<pad>``, 1 is ``<unk>``."""

    pad_index = 0
    unk_index = 1

    def __init__(self, words: Iterable[str]):
        self.itos: list[str] = [PAD, UNK]
        for w in words:
            if w not in (PAD, UNK):
                self.itos.append(w)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("words must be unique")

    @classmethod
    def build(cls, questions: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Vocabulary of the words in ``questions`` (the training questions) seen at least
        ``min_count`` times, most frequent first (ties alphabetical, so the order is fixed)."""
        counts = Counter(tok for q in questions for tok in tokenize(q))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(w for w, c in ranked if c >= min_count)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, question: str) -> list[int]:
        """Token indices of ``question``; unknown words -> ``<unk>``. Never empty (an empty
        question becomes ``[<unk>]``, since an LSTM cannot read zero steps)."""
        ids = [self.stoi.get(tok, self.unk_index) for tok in tokenize(question)]
        return ids or [self.unk_index]


def pad_batch(sequences: list[list[int]], pad_index: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token lists -> ``(tokens (N, L) long, lengths (N,) long)``."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = torch.full((len(sequences), int(lengths.max())), pad_index, dtype=torch.long)
    for i, s in enumerate(sequences):
        tokens[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return tokens, lengths


def embedding_matrix(
    vocab: Vocabulary, glove: tuple[list[str], np.ndarray], seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial word embeddings for ``vocab`` -> ``(matrix (V, dim) float32, from_glove (V,) bool)``.

    Rows of words GloVe knows are copied from it (``from_glove`` True). The other rows
    (``<unk>`` and out-of-GloVe words) are drawn at random with the spread of the GloVe
    vectors; the model trains them. The ``<pad>`` row is zero.
    """
    words, vectors = glove
    if len(words) == 0:
        raise ValueError("empty GloVe table")
    index = {w: i for i, w in enumerate(words)}
    gen = torch.Generator().manual_seed(seed)
    std = float(vectors.std())
    matrix = torch.randn(len(vocab), vectors.shape[1], generator=gen) * std
    from_glove = torch.zeros(len(vocab), dtype=torch.bool)
    for i, word in enumerate(vocab.itos):
        j = index.get(word)
        if j is not None:
            matrix[i] = torch.from_numpy(vectors[j])
            from_glove[i] = True
    matrix[vocab.pad_index] = 0.0
    from_glove[vocab.pad_index] = False
    return matrix, from_glove

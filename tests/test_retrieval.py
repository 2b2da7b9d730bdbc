"""Tests of the streaming nearest-neighbour search and the retrieval accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vcop_lab.errors import SettingsError
from vcop_lab.evaluate import search as retrieval
from vcop_lab.evaluate.search import (
    TOPK,
    chunk_memory_bytes,
    full_matrix_baseline,
    gallery_resident,
    plan_chunks,
    retrieval_accuracy,
    topk_accuracy,
    topk_neighbours,
    video_level,
)


def _features(rows: int, dim: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.fixture(scope="module")
def data64():
    # float64 random features: similarities have no ties, so the indices must match exactly.
    return _features(53, 24, seed=1), _features(131, 24, seed=2)


@pytest.mark.parametrize("k", [1, 5, 50])
@pytest.mark.parametrize(
    "chunk_q, chunk_g",
    [(None, None), (7, 13), (53, 131), (1, 50), (16, 64), (100, 1000), (5, 3)],
)
def test_streaming_equals_full_matrix(data64, k, chunk_q, chunk_g):
    queries, gallery = data64
    want_v, want_i = full_matrix_baseline(queries, gallery, k)
    got_v, got_i = topk_neighbours(queries, gallery, k, chunk_size=chunk_q, gallery_chunk=chunk_g)
    assert got_i.dtype == torch.long and got_i.shape == (53, k)
    assert torch.equal(got_i, want_i)
    torch.testing.assert_close(got_v, want_v, rtol=0, atol=1e-12)
    assert bool((got_v[:, :-1] >= got_v[:, 1:]).all())  # descending


def test_streamed_gallery_equals_resident_copy(data64):
    # A small budget forces the gallery to be streamed (column scaling by inverse norms)
    # instead of normalised once into a copy; both must give the baseline's answer.
    queries, gallery = data64
    small = 6000
    assert not gallery_resident(131, 24, small, 8)
    want_v, want_i = full_matrix_baseline(queries, gallery, 5)
    got_v, got_i = topk_neighbours(queries, gallery, 5, memory_budget_bytes=small)
    assert torch.equal(got_i, want_i)
    torch.testing.assert_close(got_v, want_v, rtol=0, atol=1e-12)


def test_float32_float16_and_numpy_inputs_agree(data64):
    queries, gallery = data64
    _, want_i = full_matrix_baseline(queries, gallery, 10)
    q32, g32 = queries.float(), gallery.float()
    v32, i32 = topk_neighbours(q32, g32, 10, chunk_size=8, gallery_chunk=40)
    assert v32.dtype == torch.float32
    # float32 may swap near-ties only: compare similarities, and most indices exactly.
    exact = torch.gather(queries @ gallery.T / torch.outer(queries.norm(dim=1),
                                                            gallery.norm(dim=1)), 1, i32)
    torch.testing.assert_close(v32.double(), exact, rtol=0, atol=1e-5)
    assert (i32 == want_i).float().mean() > 0.95
    # numpy arrays (read-only, like a memory map) give the same answer as tensors
    qn, gn = q32.numpy().copy(), g32.numpy().copy()
    gn.setflags(write=False)
    vn, i_n = topk_neighbours(qn, gn, 10, chunk_size=8, gallery_chunk=40)
    assert torch.equal(i_n, i32) and torch.equal(vn, v32)
    # float16 features are computed in float32
    v16, _ = topk_neighbours(queries.half(), gallery.half(), 10)
    assert v16.dtype == torch.float32
    torch.testing.assert_close(v16.double(), v32.double(), rtol=0, atol=5e-3)


def test_memory_mapped_numpy(tmp_path, data64):
    queries, gallery = data64
    path = tmp_path / "gallery.npy"
    np.save(path, gallery.float().numpy())
    mapped = np.load(path, mmap_mode="r")
    got_v, got_i = topk_neighbours(queries.float(), mapped, 5, memory_budget_bytes=5000)
    want_v, want_i = topk_neighbours(queries.float(), gallery.float(), 5)
    torch.testing.assert_close(got_v, want_v, rtol=0, atol=1e-6)
    assert (got_i == want_i).float().mean() > 0.95


def test_zero_vectors_give_zero_similarity_not_nan():
    queries = _features(4, 64, seed=3)
    gallery = _features(6, 64, seed=4)
    queries[1] = 0
    gallery[2] = 0
    for streamed in (False, True):
        budget = 3000 if streamed else 2**20
        assert gallery_resident(6, 64, budget, 8) is not streamed
        v, i = topk_neighbours(queries, gallery, 6, memory_budget_bytes=budget)
        assert not torch.isnan(v).any()
        assert torch.all(v[1] == 0)  # a zero query is equally (un)like everything
        # the zero gallery row sits at similarity exactly 0 in every other query's ranking
        pos = (i == 2).nonzero()
        assert pos.shape[0] == 4 and torch.all(v[pos[:, 0], pos[:, 1]] == 0)
    bv, _ = full_matrix_baseline(queries, gallery, 6)
    assert not torch.isnan(bv).any()


def test_bad_settings_raise_settings_error():
    queries, gallery = _features(3, 8, seed=5), _features(4, 8, seed=6)
    with pytest.raises(SettingsError, match="only 4 rows"):
        topk_neighbours(queries, gallery, 5)
    with pytest.raises(SettingsError, match="only 4 rows"):
        full_matrix_baseline(queries, gallery, 5)
    with pytest.raises(SettingsError, match="positive integer"):
        topk_neighbours(queries, gallery, 0)
    with pytest.raises(SettingsError, match="dimension"):
        topk_neighbours(queries, _features(4, 9, seed=6), 1)
    with pytest.raises(SettingsError, match="floating point"):
        topk_neighbours(queries, torch.ones(4, 8, dtype=torch.long), 1)
    bad = gallery.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(SettingsError, match="gallery feature row 3"):
        topk_neighbours(queries, bad, 1)
    with pytest.raises(SettingsError, match="too small"):
        topk_neighbours(queries, gallery, 1, memory_budget_bytes=10)


def test_topk_accuracy_handmade():
    # neighbours' classes, nearest first
    neighbour_labels = torch.tensor(
        [
            [0, 1, 1, 2, 3],  # query class 0: right at 1
            [2, 0, 1, 3, 3],  # query class 1: right from 3
            [5, 5, 5, 5, 4],  # query class 4: right only at 5
            [7, 7, 7, 7, 7],  # query class 6: never
        ]
    )
    query_labels = torch.tensor([0, 1, 4, 6])
    acc = topk_accuracy(neighbour_labels, query_labels, ks=(1, 2, 3, 5))
    assert acc == {1: 25.0, 2: 25.0, 3: 50.0, 5: 75.0}
    assert topk_accuracy(neighbour_labels.numpy(), [0, 1, 4, 6], ks=(5,)) == {5: 75.0}
    with pytest.raises(SettingsError, match="only 5 neighbours"):
        topk_accuracy(neighbour_labels, query_labels, ks=(10,))


def test_retrieval_accuracy_counts_and_answers():
    # Three well-separated classes; every query lies next to its class centre.
    centres = torch.eye(3, 16, dtype=torch.float64) * 10
    gen = torch.Generator().manual_seed(7)
    g_labels = torch.arange(60) % 3
    gallery = centres[g_labels] + 0.1 * torch.randn(60, 16, generator=gen, dtype=torch.float64)
    q_labels = torch.tensor([0, 1, 2, 2, 1])
    queries = centres[q_labels] + 0.1 * torch.randn(5, 16, generator=gen, dtype=torch.float64)
    result = retrieval_accuracy(queries, q_labels, gallery, g_labels, ks=(1, 5, 20))
    assert result == {"top1": 100.0, "top5": 100.0, "top20": 100.0,
                      "num_queries": 5, "num_gallery": 60}
    # wrong gallery labels (shifted by one class) make top-1 fail
    shifted = retrieval_accuracy(queries, q_labels, gallery, (g_labels + 1) % 3, ks=(1,))
    assert shifted["top1"] == 0.0
    with pytest.raises(SettingsError, match="only 60 rows"):
        retrieval_accuracy(queries, q_labels, gallery, g_labels, ks=TOPK + (100,))
    small = retrieval_accuracy(queries, q_labels, gallery[:4], g_labels[:4], ks=(1, 50),
                               allow_small_gallery=True)
    assert small["num_gallery"] == 4 and small["top50"] == 100.0  # all 3 classes among 4 rows
    with pytest.raises(SettingsError, match="labels"):
        retrieval_accuracy(queries, q_labels[:4], gallery, g_labels)


def test_video_level_means_in_first_appearance_order():
    clips = torch.tensor([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0], [5.0, 4.0], [0.0, 8.0]])
    ids = [7, 7, 2, 7, 9]
    feats, vids = video_level(clips, ids)
    assert vids.tolist() == [7, 2, 9]
    torch.testing.assert_close(feats, torch.tensor([[3.0, 2.0], [10.0, 10.0], [0.0, 8.0]]))
    f16, _ = video_level(clips.half().numpy(), np.array(ids))
    assert f16.dtype == torch.float32
    torch.testing.assert_close(f16, feats)
    with pytest.raises(SettingsError, match="video ids"):
        video_level(clips, ids[:3])


def test_plan_chunks_respects_the_budget():
    for num_q, num_g, dim, k, budget in [
        (37830, 95370, 9216, 50, 2 * 2**30),
        (37830, 95370, 9216, 50, 64 * 2**20),
        (4000, 12000, 2048, 50, 2 * 2**30),
        (500, 3000, 512, 5, 2**20),
        (10, 100, 8, 50, 20_000),
    ]:
        chunk_q, chunk_g = plan_chunks(num_q, num_g, dim, k, budget, 4)
        assert 1 <= chunk_q <= num_q and 1 <= chunk_g <= num_g
        resident = gallery_resident(num_g, dim, budget, 4)
        assert chunk_memory_bytes(chunk_q, chunk_g, num_g, dim, k, 4, resident=resident) <= budget
    # the UCF101 clip-level gallery (3.5 GB) is streamed, not copied, under the 2 GiB default
    assert not gallery_resident(95370, 9216, 2 * 2**30, 4)
    # a tiny budget gives tiny chunks; a big one whole gallery rows
    tiny_q, tiny_g = plan_chunks(1000, 5000, 64, 10, 200_000, 4)
    assert tiny_q * tiny_g * 4 <= 200_000
    assert plan_chunks(1000, 5000, 64, 10, 2**30, 4)[1] == 5000
    with pytest.raises(SettingsError, match="too small"):
        plan_chunks(10, 100, 8, 5, 100, 4)


def test_search_stays_within_planned_chunks(monkeypatch, data64):
    # Spy on the matmuls: no similarity block may exceed the planned chunk sizes.
    queries, gallery = data64
    budget = 9000
    plan = plan_chunks(53, 131, 24, 5, budget, 8)
    shapes = []
    real_matmul = torch.matmul

    def spy(a, b, *args, **kwargs):
        shapes.append((a.shape[0], b.shape[1]))
        return real_matmul(a, b, *args, **kwargs)

    monkeypatch.setattr(retrieval.torch, "matmul", spy)
    topk_neighbours(queries, gallery, 5, memory_budget_bytes=budget)
    assert shapes and plan[0] * plan[1] < 53 * 131
    assert max(a for a, _ in shapes) <= plan[0] and max(b for _, b in shapes) <= plan[1]


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                          reason="no CUDA device"))],
)
def test_device_argument_moves_chunks_and_returns_on_query_device(data64, device):
    queries, gallery = data64
    want_v, want_i = full_matrix_baseline(queries, gallery, 5)
    # on another device the gallery is copied once (big budget) or chunk by chunk (small)
    for budget in (2**30, 3000):
        v, i = topk_neighbours(queries, gallery, 5, device=device, memory_budget_bytes=budget,
                               chunk_size=16, gallery_chunk=40)
        assert v.device.type == "cpu" and i.device.type == "cpu"
        assert torch.equal(i, want_i)
        torch.testing.assert_close(v, want_v, rtol=0, atol=1e-10)

"""Nearest-neighbour retrieval by cosine similarity (the paper's Tables II-IV).

Test-split features query training-split features; a query is correct at k when its class is
among the classes of its k nearest gallery rows. This module is pure tensor code: it takes
feature matrices (torch tensors or numpy arrays, memory-mapped ones included) and never reads
videos.

Memory. At UCF101 split 1, clip level (Q = 37,830 test clips, G = 95,370 training clips,
D = 9216 float32 values each) the gallery alone is 3.5 GB and the queries 1.4 GB, while the
full Q x G similarity matrix would be 14.4 GB, and sorting every row of it (as the reference
script does) adds Q x G int64 indices, about 29 GB more. :func:`topk_neighbours` therefore
streams: one query chunk times one gallery chunk at a time, keeping only a running top-k per
query, so the extra memory is about ``chunk_q * chunk_g`` similarities plus the normalised
chunks, held under ``memory_budget_bytes`` (2 GiB by default). With the features memory-mapped
the whole process stays under 8 GB.

Clip level and video level are separate: :func:`video_level` averages each video's clip
features into one video feature; retrieval on clip features is clip-level retrieval, on the
averaged features video-level retrieval.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from vcop_lab.errors import SettingsError

TOPK = (1, 5, 10, 20, 50)

# Beyond this many queries per chunk the matmul is no faster on CPU or GPU; larger chunks
# only cost memory.
MAX_CHUNK_Q = 2048
# The planner takes the largest gallery chunk that still allows this many queries per chunk.
_TARGET_CHUNK_Q = 1024
# Rows of workspace torch.topk may hold per call (one row per thread, generously).
_TOPK_WORK_ROWS = 8
_INDEX_BYTES = 8  # int64 neighbour indices

FeatureArray = Tensor | np.ndarray


# ----------------------------------------------------------------------------- planning


def gallery_resident(num_gallery: int, dim: int, budget_bytes: int, dtype_bytes: int = 4) -> bool:
    """Whether a normalised copy of the whole gallery fits in half of ``budget_bytes``.

    The search makes that copy only when the gallery needs converting anyway (another dtype,
    such as float16, or another device); otherwise it reads the gallery in place.
    """
    return num_gallery * dim * dtype_bytes <= budget_bytes // 2


def chunk_memory_bytes(
    chunk_q: int,
    chunk_g: int,
    num_gallery: int,
    dim: int,
    k: int,
    dtype_bytes: int = 4,
    *,
    resident: bool = False,
) -> int:
    """Estimated extra memory of one streaming search step, in bytes.

    Counts the normalised query chunk, the gallery chunk (as if converted on the fly: an upper
    bound when the gallery is read in place) or the normalised resident gallery copy, the
    ``chunk_q x chunk_g`` similarity buffer, the running and merged top-k values and indices,
    the gallery's inverse norms and torch.topk's workspace.
    """
    pair = dtype_bytes + _INDEX_BYTES
    kk = min(k, chunk_g)
    total = chunk_q * dim * dtype_bytes  # normalised query chunk
    total += chunk_q * chunk_g * dtype_bytes  # similarity buffer
    total += chunk_q * (kk + 4 * k) * pair  # chunk top-k, running best, concatenation, merge
    total += _TOPK_WORK_ROWS * chunk_g * pair
    if resident:
        total += num_gallery * dim * dtype_bytes
    else:
        total += chunk_g * dim * dtype_bytes + num_gallery * dtype_bytes  # chunk, inverse norms
    return total


def plan_chunks(
    num_queries: int,
    num_gallery: int,
    dim: int,
    k: int,
    budget_bytes: int,
    dtype_bytes: int = 4,
) -> tuple[int, int]:
    """Choose ``(chunk_q, chunk_g)`` so that one search step fits in ``budget_bytes``.

    Prefers whole gallery rows (one top-k per query, no merging), then the largest gallery
    chunk that still allows ``_TARGET_CHUNK_Q`` queries per chunk, since large chunks keep the
    matmul efficient and the top-k merges rare. The result always satisfies
    ``chunk_memory_bytes(chunk_q, chunk_g, ...) <= budget_bytes``.

    Raises:
        SettingsError: when not even one query against one gallery row fits.
    """
    if min(num_queries, num_gallery, dim, k) < 1:
        raise SettingsError(
            f"cannot plan a search over {num_queries} queries, {num_gallery} gallery rows of "
            f"dimension {dim} with k={k}",
            fix="pass non-empty features and k >= 1",
        )
    resident = gallery_resident(num_gallery, dim, budget_bytes, dtype_bytes)

    def max_chunk_q(chunk_g: int) -> int:
        # chunk_memory_bytes is linear in chunk_q: solve cost(chunk_q) <= budget.
        fixed = chunk_memory_bytes(0, chunk_g, num_gallery, dim, k, dtype_bytes, resident=resident)
        per_query = chunk_memory_bytes(
            1, chunk_g, num_gallery, dim, k, dtype_bytes, resident=resident
        ) - fixed
        return min(num_queries, MAX_CHUNK_Q, (budget_bytes - fixed) // per_query)

    candidates = [num_gallery] + [
        2**p for p in range(20, -1, -1) if 2**p < num_gallery
    ]
    best: tuple[int, int] | None = None
    for chunk_g in candidates:
        chunk_q = max_chunk_q(chunk_g)
        if chunk_q < 1:
            continue
        if chunk_q >= min(num_queries, _TARGET_CHUNK_Q):
            return chunk_q, chunk_g
        if best is None or chunk_q * chunk_g > best[0] * best[1]:
            best = (chunk_q, chunk_g)
    if best is None:
        need = chunk_memory_bytes(1, 1, num_gallery, dim, k, dtype_bytes, resident=False)
        raise SettingsError(
            f"memory_budget_bytes={budget_bytes} is too small for a search over "
            f"{num_gallery} gallery rows of dimension {dim} (at least {need} bytes needed)",
            fix="raise memory_budget_bytes",
        )
    return best


# ----------------------------------------------------------------------------- features


def _check_features(x: FeatureArray | Sequence, name: str) -> FeatureArray:
    """Return ``x`` as a 2-D floating torch tensor or numpy array (no copy when possible)."""
    if not isinstance(x, (Tensor, np.ndarray)):
        x = np.asarray(x)
    if x.ndim != 2:
        raise SettingsError(
            f"{name} features must be a 2-D (rows, dim) array, got shape {tuple(x.shape)}",
            fix="flatten each feature to one row",
        )
    floating = x.is_floating_point() if isinstance(x, Tensor) else x.dtype.kind == "f"
    if not floating:
        raise SettingsError(
            f"{name} features must be floating point, got {x.dtype}",
            fix="pass float16, float32 or float64 features",
        )
    return x


def _rows(x: FeatureArray, start: int, stop: int) -> Tensor:
    """Rows ``start:stop`` of ``x`` as a tensor, a view when possible (never written to)."""
    if isinstance(x, Tensor):
        return x[start:stop]
    part = x[start:stop]
    if any(stride < 0 for stride in part.strides):
        part = np.ascontiguousarray(part)
    with warnings.catch_warnings():  # read-only memory maps: we only ever read these rows
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(part)


def _inverse_norms(rows: Tensor, name: str, offset: int) -> Tensor:
    """1 / L2 norm per row; 0 for zero rows so that they get similarity 0, never NaN."""
    norms = torch.linalg.vector_norm(rows, dim=1)
    bad = ~torch.isfinite(norms)
    if bool(bad.any()):
        row = offset + int(bad.nonzero()[0, 0])
        raise SettingsError(
            f"{name} feature row {row} contains NaN or infinite values",
            fix="check the feature extraction (e.g. float16 overflow) and recompute the features",
        )
    return torch.where(norms > 0, 1.0 / norms, torch.zeros_like(norms))


def _normalised(rows: Tensor, device: torch.device, dtype: torch.dtype, name: str, offset: int):
    """A normalised copy of ``rows`` in ``dtype`` on ``device``."""
    out = rows.to(device=device, dtype=dtype, copy=True)
    out.mul_(_inverse_norms(out, name, offset)[:, None])
    return out


def _compute_dtype(*arrays: FeatureArray) -> torch.dtype:
    """float64 when every input is float64 (exact tests), else float32 (float16 is upcast)."""
    is64 = [
        (a.dtype == torch.float64) if isinstance(a, Tensor) else (a.dtype == np.float64)
        for a in arrays
    ]
    return torch.float64 if all(is64) else torch.float32


def _check_k(k: int, num_gallery: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise SettingsError(f"k must be a positive integer, got {k!r}", fix="pass k >= 1")
    if k > num_gallery:
        raise SettingsError(
            f"k={k} nearest neighbours asked for but the gallery has only {num_gallery} rows",
            fix="use a larger gallery or a smaller k (retrieval_accuracy accepts "
            "allow_small_gallery=True to use every gallery row instead)",
        )


# ----------------------------------------------------------------------------- search


def topk_neighbours(
    queries: FeatureArray,
    gallery: FeatureArray,
    k: int,
    *,
    chunk_size: int | None = None,
    gallery_chunk: int | None = None,
    device: str | torch.device | None = None,
    memory_budget_bytes: int = 2 * 2**30,
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """The ``k`` gallery rows most cosine-similar to every query, without the full matrix.

    Args:
        queries: (Q, D) features, torch tensor or numpy array (float16/32/64; memory-mapped
            arrays are read chunk by chunk).
        gallery: (G, D) features, same kinds.
        k: neighbours per query, ``1 <= k <= G``.
        chunk_size: queries per chunk; planned from ``memory_budget_bytes`` when None (an
            explicit size overrides the plan and is not held to the budget).
        gallery_chunk: gallery rows per chunk; planned like ``chunk_size`` when None.
        device: where the matmuls run (e.g. ``"cuda"``); chunks are moved there. Default:
            the queries' device (CPU for numpy arrays).
        memory_budget_bytes: bound on the extra memory of the search (see
            :func:`chunk_memory_bytes`); the inputs and the (Q, k) results are not counted.
        progress: show a progress bar over query chunks.

    Returns:
        ``(similarities, indices)``, both (Q, k): cosine similarities in descending order per
        row and the matching gallery row indices (int64), on the queries' device (CPU for
        numpy inputs). Rows of zeros have similarity 0 to everything. The order among exactly
        tied similarities is unspecified.

    Memory: a gallery already in the compute dtype (float32, or float64 when both inputs are
    float64) on the compute device is read in place, chunk by chunk, and its precomputed
    inverse norms scale each chunk's similarity columns (the same as normalising the gallery,
    without a copy). A gallery that needs converting (float16, another device) is normalised
    once into a copy when that fits in half the budget, else converted chunk by chunk. Each
    query chunk is normalised into a small copy. Per step the search holds one
    ``chunk_q x chunk_g`` similarity buffer (reused) and a running top-k per query, merged
    with ``torch.topk`` on the concatenation of the running and the new chunk's top-k.
    """
    queries = _check_features(queries, "query")
    gallery = _check_features(gallery, "gallery")
    num_q, dim = queries.shape
    num_g, gdim = gallery.shape
    if gdim != dim:
        raise SettingsError(
            f"query features have dimension {dim} but gallery features {gdim}",
            fix="extract queries and gallery from the same layer with the same pooling",
        )
    _check_k(k, num_g)
    k = int(k)
    out_device = queries.device if isinstance(queries, Tensor) else torch.device("cpu")
    device = torch.device(device) if device is not None else out_device
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    dtype = _compute_dtype(queries, gallery)
    if num_q == 0:
        return torch.empty(0, k, dtype=dtype, device=out_device), torch.empty(
            0, k, dtype=torch.long, device=out_device
        )
    elem = torch.finfo(dtype).bits // 8

    planned_q, planned_g = plan_chunks(num_q, num_g, dim, k, memory_budget_bytes, elem)
    chunk_q = min(num_q, _positive(chunk_size, "chunk_size") or planned_q)
    chunk_g = min(num_g, _positive(gallery_chunk, "gallery_chunk") or planned_g)
    # Gallery: read in place when it is already in the compute dtype on the compute device
    # (no copy at all); else a normalised copy made once when it fits the budget; else
    # converted chunk by chunk. In place or chunk by chunk, precomputed inverse norms scale
    # the similarity columns, which equals normalising the gallery rows.
    resident = not _in_place(gallery, device, dtype) and gallery_resident(
        num_g, dim, memory_budget_bytes, elem
    )
    gallery_inv = None
    if resident:
        gal = torch.empty(num_g, dim, dtype=dtype, device=device)
        for start in range(0, num_g, chunk_g):
            stop = min(start + chunk_g, num_g)
            gal[start:stop] = _normalised(_rows(gallery, start, stop), device, dtype, "gallery",
                                          start)
    else:
        gal = gallery
        gallery_inv = torch.empty(num_g, dtype=dtype, device=device)
        for start in range(0, num_g, chunk_g):
            stop = min(start + chunk_g, num_g)
            rows = _rows(gallery, start, stop).to(device=device, dtype=dtype)
            gallery_inv[start:stop] = _inverse_norms(rows, "gallery", start)

    sims_buffer = torch.empty(chunk_q * chunk_g, dtype=dtype, device=device)
    out_sims = torch.empty(num_q, k, dtype=dtype, device=out_device)
    out_idx = torch.empty(num_q, k, dtype=torch.long, device=out_device)
    whole_rows = chunk_g >= num_g  # one top-k per query, already sorted: no merge needed

    starts = range(0, num_q, chunk_q)
    for q0 in tqdm(starts, desc="retrieval", unit="chunk", disable=not progress):
        q1 = min(q0 + chunk_q, num_q)
        qn = _normalised(_rows(queries, q0, q1), device, dtype, "query", q0)
        best_v = best_i = None
        for g0 in range(0, num_g, chunk_g):
            g1 = min(g0 + chunk_g, num_g)
            if resident:
                gc = gal[g0:g1]
            else:
                gc = _rows(gal, g0, g1).to(device=device, dtype=dtype)
            sims = sims_buffer[: (q1 - q0) * (g1 - g0)].view(q1 - q0, g1 - g0)
            torch.matmul(qn, gc.T, out=sims)
            if gallery_inv is not None:
                sims.mul_(gallery_inv[g0:g1])
            v, i = torch.topk(sims, min(k, g1 - g0), dim=1, sorted=whole_rows)
            if g0:
                i += g0
            if best_v is None:
                best_v, best_i = v, i
            else:  # merge: top-k of (running top-k + this chunk's top-k)
                cat_v = torch.cat((best_v, v), dim=1)
                cat_i = torch.cat((best_i, i), dim=1)
                best_v, pos = torch.topk(cat_v, min(k, cat_v.shape[1]), dim=1, sorted=False)
                best_i = torch.gather(cat_i, 1, pos)
        if not whole_rows:
            best_v, order = torch.sort(best_v, dim=1, descending=True)
            best_i = torch.gather(best_i, 1, order)
        out_sims[q0:q1] = best_v
        out_idx[q0:q1] = best_i
    return out_sims, out_idx


def _in_place(x: FeatureArray, device: torch.device, dtype: torch.dtype) -> bool:
    """Whether rows of ``x`` can enter the matmul without a conversion copy."""
    if isinstance(x, Tensor):
        return x.dtype == dtype and x.device == device
    return device.type == "cpu" and x.dtype == torch.empty(0, dtype=dtype).numpy().dtype


def _positive(value: int | None, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or int(value) < 1):
        raise SettingsError(f"{name} must be a positive integer, got {value!r}",
                            fix=f"pass {name}=None to plan it from the memory budget")
    return None if value is None else int(value)


def full_matrix_baseline(
    query_feats: FeatureArray, gallery_feats: FeatureArray, k: int
) -> tuple[Tensor, Tensor]:
    """The naive search: the full Q x G cosine distance matrix, every row fully argsorted.

    This is what the reference code does. It needs about ``Q * G * (4 + 8)`` bytes plus the
    sort's workspace (about 29 GB at UCF101 split-1 clip level) and serves as a benchmark
    baseline and an exactness oracle for :func:`topk_neighbours`. Returns
    ``(similarities, indices)`` like :func:`topk_neighbours`.
    """
    queries = _check_features(query_feats, "query")
    gallery = _check_features(gallery_feats, "gallery")
    _check_k(k, gallery.shape[0])
    dtype = _compute_dtype(queries, gallery)
    device = queries.device if isinstance(queries, Tensor) else torch.device("cpu")
    qn = _normalised(_rows(queries, 0, queries.shape[0]), device, dtype, "query", 0)
    gn = _normalised(_rows(gallery, 0, gallery.shape[0]), device, dtype, "gallery", 0)
    distance = qn @ gn.T
    distance.neg_().add_(1.0)  # cosine distance = 1 - cosine similarity
    order = torch.argsort(distance, dim=1)
    indices = order[:, :k].contiguous()
    return 1.0 - torch.gather(distance, 1, indices), indices


# ----------------------------------------------------------------------------- accuracy


def topk_accuracy(
    neighbour_labels: Tensor | np.ndarray,
    query_labels: Tensor | np.ndarray | Sequence[int],
    ks: Sequence[int] = TOPK,
) -> dict[int, float]:
    """Percent of queries whose class is among the classes of their k nearest neighbours.

    Args:
        neighbour_labels: (Q, K) class of each query's neighbours, nearest first.
        query_labels: (Q,) class of each query.
        ks: the k to report, each ``<= K``.

    Returns:
        ``{k: accuracy in percent (0..100)}``.
    """
    neighbours = torch.as_tensor(np.asarray(neighbour_labels))
    labels = torch.as_tensor(np.asarray(query_labels))
    if neighbours.ndim != 2 or labels.ndim != 1 or neighbours.shape[0] != labels.shape[0]:
        raise SettingsError(
            f"neighbour labels {tuple(neighbours.shape)} and query labels "
            f"{tuple(labels.shape)} do not match",
            fix="pass (Q, K) neighbour labels and (Q,) query labels",
        )
    if labels.numel() == 0:
        raise SettingsError("no queries to score", fix="pass at least one query")
    result = {}
    for k in ks:
        if not 1 <= k <= neighbours.shape[1]:
            raise SettingsError(
                f"top-{k} accuracy asked for but only {neighbours.shape[1]} neighbours given",
                fix="search at least max(ks) neighbours",
            )
        hit = (neighbours[:, :k] == labels[:, None]).any(dim=1)
        result[int(k)] = 100.0 * hit.double().mean().item()
    return result


def retrieval_accuracy(
    query_feats: FeatureArray,
    query_labels: Tensor | np.ndarray | Sequence[int],
    gallery_feats: FeatureArray,
    gallery_labels: Tensor | np.ndarray | Sequence[int],
    ks: Sequence[int] = TOPK,
    *,
    allow_small_gallery: bool = False,
    **kw,
) -> dict:
    """Top-k retrieval accuracy of queries against a gallery (clip or video level alike).

    Searches ``max(ks)`` neighbours with :func:`topk_neighbours` (``**kw`` goes there). With
    fewer gallery rows than ``max(ks)`` it raises :class:`SettingsError`, unless
    ``allow_small_gallery`` is True: then every gallery row is a neighbour and each top-k with
    k > G is scored with all G rows.

    Returns:
        ``{"top1": %, "top5": %, ..., "num_queries": Q, "num_gallery": G}``.
    """
    query_feats = _check_features(query_feats, "query")
    gallery_feats = _check_features(gallery_feats, "gallery")
    q_labels = torch.as_tensor(np.asarray(query_labels)).reshape(-1)
    g_labels = torch.as_tensor(np.asarray(gallery_labels)).reshape(-1)
    for name, feats, labels in (
        ("query", query_feats, q_labels),
        ("gallery", gallery_feats, g_labels),
    ):
        if labels.numel() != feats.shape[0]:
            raise SettingsError(
                f"{feats.shape[0]} {name} features but {labels.numel()} {name} labels",
                fix="pass one label per feature row",
            )
    num_g = gallery_feats.shape[0]
    k = max(ks)
    if allow_small_gallery:
        k = min(k, num_g)
    _, idx = topk_neighbours(query_feats, gallery_feats, k, **kw)
    neighbour_labels = g_labels[idx.cpu()]
    acc = topk_accuracy(neighbour_labels, q_labels, [min(kk, k) for kk in ks])
    result: dict = {f"top{kk}": acc[min(kk, k)] for kk in ks}
    result["num_queries"] = int(query_feats.shape[0])
    result["num_gallery"] = int(num_g)
    return result


# ----------------------------------------------------------------------------- video level


def video_level(
    features: FeatureArray, video_ids: Tensor | np.ndarray | Sequence[int]
) -> tuple[Tensor, Tensor]:
    """Video-level features: the mean of each video's clip-level features.

    Args:
        features: (N, D) clip-level features, one row per clip.
        video_ids: (N,) the video each clip row belongs to.

    Returns:
        ``(video_features, ids)``: (V, D) means (float32, or float64 for float64 input) and
        the (V,) unique video ids in order of first appearance.
    """
    features = _check_features(features, "clip")
    ids = torch.as_tensor(np.asarray(video_ids)).reshape(-1)
    num, dim = features.shape
    if ids.numel() != num:
        raise SettingsError(
            f"{num} clip features but {ids.numel()} video ids",
            fix="pass one video id per clip feature row",
        )
    if num == 0:
        raise SettingsError("no clip features to average", fix="pass at least one clip")
    uniq, inverse = torch.unique(ids, return_inverse=True)
    first = torch.full((uniq.numel(),), num, dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(num), reduce="amin")
    order = torch.argsort(first)  # sorted unique ids -> first-appearance order
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    slot = rank[inverse]

    dtype = _compute_dtype(features)
    sums = torch.zeros(uniq.numel(), dim, dtype=dtype)
    step = max(1, 2**26 // max(dim, 1))  # about 256 MB of float32 per conversion
    for start in range(0, num, step):
        stop = min(start + step, num)
        rows = _rows(features, start, stop).to(device="cpu", dtype=dtype)
        sums.index_add_(0, slot[start:stop], rows)
    counts = torch.bincount(slot, minlength=uniq.numel()).to(dtype)
    return sums / counts[:, None], uniq[order]


__all__ = [
    "TOPK",
    "chunk_memory_bytes",
    "full_matrix_baseline",
    "gallery_resident",
    "plan_chunks",
    "retrieval_accuracy",
    "topk_accuracy",
    "topk_neighbours",
    "video_level",
]

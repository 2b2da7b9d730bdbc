"""Where and how runs execute: device choice, seeds, worker threads and process pools."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from vcop_lab.errors import SettingsError


def pick_device(prefer: str | None = None) -> torch.device:
    """The device to run on: ``prefer`` when given ("cpu", "cuda", "cuda:1", "mps"),
    else CUDA, then Apple's MPS, then the CPU. A device that is not there is an error."""
    if prefer and prefer != "auto":
        return _check_device(str(prefer))
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _check_device(name: str) -> torch.device:
    fix = "leave --device out (or DEVICE='auto') to take the best one there is"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SettingsError(f"unknown device {name!r}",
                            fix=f"use cpu, cuda, cuda:N or mps, or {fix}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            raise SettingsError(f"device {name!r} was asked for, but this machine has "
                                f"{count} CUDA device(s)", fix=fix)
    if device.type == "mps" and not (getattr(torch.backends, "mps", None)
                                     and torch.backends.mps.is_available()):
        raise SettingsError(f"device {name!r} was asked for, but Apple's MPS is not available",
                            fix=fix)
    if device.type not in ("cpu", "cuda", "mps"):
        raise SettingsError(f"device {name!r} is not supported", fix=f"use cpu, cuda or mps; {fix}")
    return device


def check_workers(workers: int | None) -> int | None:
    """``workers`` DataLoader worker processes: None (the profile's) or 0 or more."""
    if workers is not None and int(workers) < 0:
        raise SettingsError(f"the number of DataLoader workers must be 0 or more, got {workers}",
                            fix="pass --workers 0 (load in the main process) or a positive count")
    return workers


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch on the CPU and on every CUDA device."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)  # no `if gpu:` guard: device 0 must be seeded too


def worker_init_fn(worker_id: int) -> None:
    """DataLoader worker setup: one torch thread per worker (two cores are easily
    oversubscribed) and Python/NumPy seeds derived from the worker's torch seed."""
    torch.set_num_threads(1)
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def rng_state() -> dict:
    """Every random state a run depends on, to store in a checkpoint."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        # as a tensor: checkpoints are loaded with weights_only=True, which refuses numpy arrays
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate(_as_python_state(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.as_tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _as_python_state(state):
    # weights_only checkpoints turn tuples into lists; random.setstate needs tuples back
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def default_workers() -> int:
    """DataLoader workers for a profile that leaves the count to the machine: none on two
    cores or fewer, else the cores beyond two, at most 4 (decoding small clips saturates
    early). On two cores a worker process competes with the two compute threads: one
    teaching pretraining epoch took 13.4 s loading in the main process against 14.7 s with
    two workers (the same numbers either way)."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 2)


def loader_workers(workers: int | None) -> int:
    """``workers`` DataLoader worker processes, or :func:`default_workers` for None."""
    check_workers(workers)
    return default_workers() if workers is None else int(workers)


def _init_pool_worker() -> None:
    # One thread per worker process: more would oversubscribe the cores.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def worker_pool(workers: int, preload: Sequence[str] = ()) -> ProcessPoolExecutor:
    """A process pool of ``workers`` processes with one thread each (decoding, encoding).

    forkserver/spawn children start clean: forking a parent whose torch thread pool already
    ran can deadlock. The forkserver imports the ``preload`` modules once and forks cheap
    workers from it.
    """
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods and preload:
        ctx.set_forkserver_preload(list(preload))
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_pool_worker)

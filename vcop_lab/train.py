"""The one training loop: epochs, mixed precision, DDP, checkpoints, metrics history.

Both pretraining (clip order) and fine-tuning (action labels) run through :func:`fit`.
A task supplies two functions:

- ``step(model, batch, device, channels_last) -> (loss, correct, count)`` for one batch;
- ``evaluate(model, loader, device) -> {"loss": ..., "acc": ...}`` on the validation set.

Batches of clips arrive as uint8 (pinned when feeding a GPU); the step turns them into float
on the device with :func:`~vcop_lab.data.transforms.to_network_input`.

Every epoch writes ``last.pt`` (model, optimiser, scaler, epoch, random states, history)
atomically, ``best.pt`` when the validation loss improved (or, with ``best="val_acc"``, the
validation accuracy), and ``history.json``. With ``resume=True`` a run continues from
``last.pt`` and ends exactly where an uninterrupted run would have. Accuracies are fractions
in [0, 1] everywhere.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from vcop_lab import distributed
from vcop_lab.atomic import remove_stale_temps, write_json_atomic
from vcop_lab.checkpoint import load_checkpoint, save_checkpoint
from vcop_lab.data.datasets import EpochSampler
from vcop_lab.errors import SettingsError
from vcop_lab.runtime import (
    loader_workers,
    pick_device,
    rng_state,
    seed_everything,
    set_rng_state,
    worker_init_fn,
)


@dataclass
class FitConfig:
    """How to train: the optimiser, the budget and where to write."""

    out_dir: Path
    epochs: int
    batch_size: int
    lr: float = 1e-3
    optimizer: str = "sgd"           # "sgd" (the paper's) or "adamw"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    num_workers: int | None = 0      # None: runtime.default_workers
    seed: int = 0
    device: str | None = None
    amp: bool | None = None          # None: on for CUDA, off elsewhere
    channels_last: bool | None = None  # None: on for CUDA and the CPU, off on MPS
    max_minutes: float | None = None
    best: str = "val_loss"           # what picks best.pt: "val_loss" (lowest) or "val_acc"
    resume: bool = False
    progress: bool = True
    log_epochs: bool = True          # a line per epoch (with progress on)
    meta: dict = field(default_factory=dict)  # settings recorded in every checkpoint


def make_optimizer(params, cfg: FitConfig) -> torch.optim.Optimizer:
    """SGD with momentum as in the paper, or AdamW (the teaching profile: on a CPU budget of
    minutes, SGD does not leave the chance plateau of order prediction, Adam does)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise SettingsError(f"unknown optimizer {cfg.optimizer!r}", fix="use 'sgd' or 'adamw'")


def make_loader(dataset, batch_size: int, sampler, num_workers: int | None,
                device: torch.device,
                drop_last: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader with the fast-path options: persistent workers with one thread each,
    pinned memory when feeding a GPU, a couple of batches prefetched per worker. A dataset
    with a ``collate`` method (variable-length questions) batches its items itself.

    The loader draws its workers' seeds from a generator of its own (seeded with ``seed``;
    :func:`fit` reseeds it from (seed, epoch)), never from the global torch RNG: otherwise
    every new iterator would move the stream that dropout draws from, and the number of
    workers and a resume would change the results. ``num_workers`` None: as many as
    :func:`~vcop_lab.runtime.default_workers` says for this machine.
    """
    num_workers = loader_workers(num_workers)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
        worker_init_fn=worker_init_fn, persistent_workers=num_workers > 0,
        pin_memory=device.type == "cuda", drop_last=drop_last,
        prefetch_factor=2 if num_workers > 0 else None,
        collate_fn=getattr(dataset, "collate", None),
        generator=torch.Generator().manual_seed(int(seed)),
    )


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch)) % 2**63


def close_loader(loader: DataLoader | None) -> None:
    """Stop a loader's worker processes now. Persistent workers otherwise live until the
    loader is garbage-collected, and workers forked while another loader's were alive took
    5 s each to be stopped there (measured in a Jupyter kernel)."""
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    if loader is not None:
        loader._iterator = None


def eval_loader(dataset, batch_size: int, num_workers: int | None, device: torch.device
                ) -> DataLoader:
    """A loader over every item in order, once (validation, testing, feature extraction)."""
    return make_loader(dataset, batch_size, EpochSampler(len(dataset), shuffle=False),
                       num_workers, device)


def _save_last(cfg, model, opt, scaler, epoch, history, best):
    save_checkpoint({
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
        "epoch": epoch, "history": history, "best_score": best, "rng": rng_state(),
        "meta": cfg.meta,
    }, cfg.out_dir / "last.pt")


def fit(model: torch.nn.Module, train_set, val_set, step, evaluate, cfg: FitConfig,
        on_train_mode=None) -> dict:
    """Train ``model`` and return ``{"history", "best_epoch", "best_val_loss", "device",
    "stopped_by_budget", "train_seconds"}``; on the main process ``model`` ends on that
    device with the weights of ``best.pt``. ``on_train_mode(model)`` runs after every
    ``model.train()`` (e.g. to keep frozen BatchNorm layers in eval mode)."""
    cfg.out_dir = Path(cfg.out_dir)
    seed_everything(cfg.seed)
    rank, world, device = distributed.setup(pick_device(cfg.device))
    amp = device.type == "cuda" if cfg.amp is None else cfg.amp and device.type == "cuda"
    # channels_last_3d: a training step 1.2-1.4x as fast on CUDA and on the CPU (oneDNN) for
    # every backbone (benchmarks/bench_train_step.py); MPS has no 3-D channels-last kernels.
    channels_last = (device.type in ("cuda", "cpu") if cfg.channels_last is None
                     else cfg.channels_last)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last_3d)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    start, history, best = 0, [], math.inf
    last = cfg.out_dir / "last.pt"
    if distributed.is_main():
        remove_stale_temps(cfg.out_dir)  # left by a run killed while writing
    if cfg.resume and last.exists():
        ckpt = load_checkpoint(last)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        start, history, best = ckpt["epoch"] + 1, ckpt["history"], ckpt["best_score"]
        set_rng_state(ckpt["rng"])
    net = DistributedDataParallel(model) if world > 1 else model
    sampler = EpochSampler(len(train_set), cfg.seed, True, rank, world)
    loader = make_loader(train_set, cfg.batch_size, sampler, cfg.num_workers, device,
                         seed=cfg.seed)
    val_loader = None
    if val_set is not None and len(val_set):
        val_loader = eval_loader(val_set, cfg.batch_size, cfg.num_workers, device)
    spent = sum(h["seconds"] for h in history)
    stopped = False
    main = distributed.is_main()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        for feeding in (loader, val_loader):  # worker seeds from (seed, epoch), see make_loader
            if feeding is not None:
                feeding.generator.manual_seed(_epoch_seed(cfg.seed, epoch))
        net.train()
        if on_train_mode:
            on_train_mode(model)
        tot_loss = tot_correct = tot_n = 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not (cfg.progress and main))
        for batch in bar:
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                loss, correct, n = step(net, batch, device, channels_last)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            tot_loss += loss.item() * n
            tot_correct += correct
            tot_n += n
            bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}", acc=f"{tot_correct / tot_n:.2f}")
        train_seconds = time.perf_counter() - t0
        val = evaluate(model, val_loader, device) if val_loader is not None else {}
        seconds = time.perf_counter() - t0
        spent += seconds
        record = {"epoch": epoch + 1, "train_loss": tot_loss / max(tot_n, 1),
                  "train_acc": tot_correct / max(tot_n, 1), "val_loss": val.get("loss"),
                  "val_acc": val.get("acc"), "lr": opt.param_groups[0]["lr"],
                  "seconds": seconds, "train_items_per_second": tot_n / train_seconds}
        history.append(record)
        score = _score(record, cfg.best)
        if main:
            if score < best:
                best = score
                save_checkpoint({"model": model.state_dict(), "epoch": epoch, "meta": cfg.meta,
                                 "val_loss": record["val_loss"], "val_acc": record["val_acc"]},
                                cfg.out_dir / "best.pt")
            _save_last(cfg, model, opt, scaler, epoch, history, best)
            write_json_atomic(cfg.out_dir / "history.json", history)
        if cfg.progress and cfg.log_epochs and main:
            tqdm.write(f"epoch {epoch + 1}: train loss {record['train_loss']:.3f} "
                       f"acc {record['train_acc']:.3f}" + (
                           f" | val loss {val['loss']:.3f} acc {val['acc']:.3f}" if val else ""))
        over = cfg.max_minutes is not None and spent > cfg.max_minutes * 60
        if distributed.any_rank(over):
            stopped = epoch + 1 < cfg.epochs
            break
    close_loader(loader)
    close_loader(val_loader)
    distributed.barrier()
    if main and (cfg.out_dir / "best.pt").exists():  # the model leaves with its best weights
        model.load_state_dict(load_checkpoint(cfg.out_dir / "best.pt")["model"])
    if channels_last:  # evaluated as a model loaded from its checkpoint is, to the last bit
        model.to(memory_format=torch.contiguous_format)
    best_epoch = min(history, key=lambda h: _score(h, cfg.best))["epoch"] if history else None
    best_val_loss = next((h["val_loss"] for h in history if h["epoch"] == best_epoch), None)
    return {"history": history, "best_epoch": best_epoch, "best_val_loss": best_val_loss,
            "device": str(device), "stopped_by_budget": stopped, "train_seconds": spent,
            "amp": amp, "world_size": world, "config": _plain(asdict(cfg))}


def _score(record: dict, best: str) -> float:
    """What :func:`fit` minimises to pick ``best.pt`` (the training figure without a
    validation set)."""
    if best == "val_acc":
        acc = record["val_acc"] if record["val_acc"] is not None else record["train_acc"]
        return -acc
    if best != "val_loss":
        raise SettingsError(f"unknown best-checkpoint rule {best!r}", fix="use val_loss or val_acc")
    return record["val_loss"] if record["val_loss"] is not None else record["train_loss"]


def _plain(d: dict) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}

"""The one inference loop: a model in eval mode over a loader, without gradients."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from vcop_lab.data.transforms import to_network_input


@torch.no_grad()
def for_each_batch(model: torch.nn.Module, loader, device: torch.device,
                   fn: Callable[[torch.Tensor, tuple], None], progress: bool = False,
                   desc: str = "evaluate") -> None:
    """Call ``fn(inputs, batch)`` for every batch: ``inputs`` is the batch's first element
    moved to ``device`` (non-blocking from pinned memory) and, if it holds uint8 clips, made
    the networks' float input there (:func:`~vcop_lab.data.transforms.to_network_input`);
    ``batch`` is the whole batch as the loader gave it. The model is put in eval mode first."""
    model.eval()
    for batch in tqdm(loader, desc=desc, leave=False, disable=not progress):
        fn(to_network_input(batch[0], device), batch)


def collect(model: torch.nn.Module, loader, device: torch.device,
            fn: Callable[[torch.Tensor, tuple], dict[str, torch.Tensor]],
            progress: bool = False, desc: str = "evaluate") -> dict[str, torch.Tensor]:
    """:func:`for_each_batch`, concatenating the tensors ``fn`` returns per key (on the CPU)."""
    parts: dict[str, list[torch.Tensor]] = {}

    def keep(inputs, batch):
        for key, value in fn(inputs, batch).items():
            parts.setdefault(key, []).append(torch.as_tensor(value).detach().cpu())

    for_each_batch(model, loader, device, keep, progress, desc)
    return {key: torch.cat(values) for key, values in parts.items()}

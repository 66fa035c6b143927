"""Endless, seeded batch streams whose every batch is a pure function of the step.

Because nothing but the step decides which examples a batch holds, a resumed run reads
exactly the batches the uninterrupted run would have read, with no sampler state to save.
Under several processes each rank takes its own slice of the global batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from textssl.data.views import split_views

Batch = dict[str, torch.Tensor]


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


@dataclass
class Views:
    """An unlabelled batch: its weak view, its strong view (None when the data has none),
    and the dataset row of every example. Never a label."""

    weak: Batch
    strong: Batch | None
    index: torch.Tensor

    def to(self, device: torch.device) -> Views:
        strong = None if self.strong is None else to_device(self.strong, device)
        return Views(to_device(self.weak, device), strong, self.index.to(device))


class BatchStream:
    def __init__(self, dataset: Dataset, batch_size: int, collate: Callable[[dict[str, list]], Batch],
                 seed: tuple[int, ...], rank: int = 0, world_size: int = 1):
        if len(dataset) == 0:
            raise ValueError("cannot stream batches from an empty dataset")
        self.dataset, self.batch_size, self.collate = dataset, batch_size, collate
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self._epoch, self._order = -1, np.empty(0, dtype=np.int64)

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng([*self.seed, epoch]).permutation(len(self.dataset))
        return self._order

    def _positions(self, step: int) -> np.ndarray:
        """Positions in the endless stream of this rank's share of the global batch `step`."""
        start = (step * self.world_size + self.rank) * self.batch_size
        return np.arange(start, start + self.batch_size)

    def indices(self, step: int) -> np.ndarray:
        """Dataset indices of this rank's share of the global batch number `step`."""
        positions, n = self._positions(step), len(self.dataset)
        # positions are increasing, so at most two epochs meet in one batch
        return np.concatenate([self._permutation(int(epoch))[positions[positions // n == epoch] % n]
                               for epoch in np.unique(positions // n)])

    def batch(self, step: int) -> Batch:
        indices = self.indices(step)
        batch: dict[str, Any] = self.collate(self.dataset[indices])
        batch["index"] = torch.as_tensor(indices)
        return batch

    def views(self, step: int) -> Views:
        """The batch as weak and strong views; each pass over the data uses the next strong copy."""
        indices = self.indices(step)
        weak, strong = split_views(self.dataset[indices], self._positions(step) // len(self.dataset))
        return Views(self.collate(weak), None if strong is None else self.collate(strong), torch.as_tensor(indices))

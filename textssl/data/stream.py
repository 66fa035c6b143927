"""Endless, seeded streams of rows whose every batch is a pure function of the step.

Because nothing but the step decides which examples a batch holds, a resumed run reads
exactly the batches the uninterrupted run would have read, with no sampler state to save.
Under several processes each rank takes its own slice of the global batch.
"""

from __future__ import annotations

import numpy as np
from datasets import Dataset


class BatchStream:
    def __init__(self, dataset: Dataset, batch_size: int, seed: tuple[int, ...], rank: int = 0, world_size: int = 1):
        if len(dataset) == 0:
            raise ValueError("cannot stream batches from an empty dataset")
        self.dataset, self.batch_size = dataset, batch_size
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

    def rows(self, step: int) -> tuple[dict[str, list], np.ndarray, np.ndarray]:
        """This rank's rows of batch `step`, their dataset indices, and the pass each is read in."""
        indices = self.indices(step)
        return self.dataset[indices], indices, self._positions(step) // len(self.dataset)

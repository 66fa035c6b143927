from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

Batch = dict[str, torch.Tensor]


class Classifier(nn.Module):
    """A backbone behind the one seam every algorithm uses.

    `embed(batch)` gives the input as a tensor (token embeddings for text, pixels for
    images) and `classify(embedded, batch)` turns it into logits. Algorithms that perturb or
    mix inputs (VAT, MixUp, Pi-model noise) act on the embedded tensor, so they work for any
    modality without asking which one it is. `preprocess` and `collate` turn dataset rows
    into model inputs; they are the only place that knows the input column.
    """

    input_column: str
    label_names: list[str]

    def preprocess(self, rows: dict[str, list]) -> dict[str, list]:
        """Batched `datasets.map` function: raw rows -> stored model inputs."""
        raise NotImplementedError

    def collate(self, rows: dict[str, list]) -> Batch:
        """Stored model inputs of a few rows -> a batch of tensors."""
        raise NotImplementedError

    def embed(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def classify(self, embedded: torch.Tensor, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch: Batch, embedded: torch.Tensor | None = None) -> torch.Tensor:
        if embedded is None:
            embedded = self.embed(batch)
        return self.classify(embedded, batch)

    def save_pretrained(self, directory: Path) -> None:
        raise NotImplementedError

    def load_weights(self, directory: Path) -> None:
        """Load the weights that `save_pretrained` wrote into this model."""
        raise NotImplementedError

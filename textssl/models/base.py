from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from datasets import Dataset
from torch import nn

from textssl.batch import Batch
from textssl.config import ModelConfig


@dataclass
class Mix:
    """MixUp inside a batch: example i becomes weight * x_i + (1 - weight) * x_partner[i]."""

    partner: torch.Tensor
    weight: float


class Classifier(nn.Module):
    """A backbone behind the one seam every algorithm uses, and the owner of its life cycle.

    `embed(batch)` gives the input as a tensor (token embeddings for text, pixels for
    images) and `classify(embedded, batch)` turns it into logits. Algorithms that perturb or
    mix inputs (VAT, MixUp, Pi-model noise) act on the embedded tensor through `forward`'s
    `perturbation` and `mix`, so they work for any modality without asking which one it is;
    the backbone decides what a perturbation's size means (`normalize_perturbation`) and
    how to join batches (`concat`). `preprocess` and `collate` turn dataset rows into model
    inputs; they are the only place that knows the input column.

    A kind of backbone is one file: a subclass decorated with `@register_backbone` that says
    which recipes it builds (`claims`, `from_config`), which saved folders are its own
    (`recognises`, `from_saved`, `save_pretrained`) and what a model card says of it.
    """

    kind: ClassVar[str]
    """The registry's name of the kind."""
    description: ClassVar[str]
    """What it is, for messages: "an image network"."""
    input_column: ClassVar[str]
    """The dataset column it reads: text | image."""
    names: ClassVar[tuple[str, ...]] = ()
    """Its built-in model names, for `textssl list`."""
    library_name: ClassVar[str] = "textssl"
    """The library that loads a pushed model, for the model card."""
    card_note: ClassVar[str] = ""
    """Said of the base model on the model card."""
    label_names: list[str]

    @classmethod
    def claims(cls, config: ModelConfig) -> bool:
        """Whether the recipe's `model:` section asks for this kind."""
        return False

    @classmethod
    def from_config(cls, config: ModelConfig, label_names: list[str], max_length: int) -> Classifier:
        """A fresh model for `label_names` from the recipe's `model:` section."""
        raise NotImplementedError

    @classmethod
    def recognises(cls, saved: dict) -> bool:
        """Whether a model folder's config.json was written by this kind's `save_pretrained`."""
        return False

    @classmethod
    def from_saved(cls, folder: Path, saved: dict, max_length: int, trust_remote_code: bool) -> Classifier:
        """The model `save_pretrained` wrote to `folder` (its config.json read as `saved`)."""
        raise NotImplementedError

    def save_pretrained(self, directory: Path) -> None:
        raise NotImplementedError

    def load_weights(self, directory: Path) -> None:
        """Load the weights that `save_pretrained` wrote into this model."""
        raise NotImplementedError

    @classmethod
    def base_model(cls, name: str) -> str | None:
        """The Hub id of the model `model.name` started from, for the model card (None: trained from scratch)."""
        return None

    @classmethod
    def export(cls, folder: Path, saved: dict) -> None:
        """Complete a copy of a saved model folder so that it loads on another machine."""

    @classmethod
    def usage(cls, repo_id: str) -> str:
        """Python that loads the pushed model, for the model card."""
        return (f'from huggingface_hub import snapshot_download\nimport textssl\n\n'
                f'model = textssl.load(snapshot_download("{repo_id}"))\n'
                f'textssl.inference.probabilities(model, inputs)')

    @classmethod
    def pipeline_tag(cls) -> str:
        return f"{cls.input_column}-classification"

    def preprocess(self, rows: dict[str, list]) -> dict[str, list]:
        """Batched `datasets.map` function: raw rows -> stored model inputs."""
        raise NotImplementedError

    def collate(self, rows: dict[str, list]) -> Batch:
        """Stored model inputs of a few rows -> a batch of tensors."""
        raise NotImplementedError

    fits_on_pool: bool = False
    """Whether `fit_input` reads the pool: then the pool is preprocessed for every method."""

    def fit_input(self, pool: Dataset) -> None:
        """Learn what the backbone needs from the preprocessed unlabelled pool before training
        (nothing, unless a subclass says so; never the labels)."""

    def embed(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def classify(self, embedded: torch.Tensor, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch: Batch, perturbation: torch.Tensor | None = None, mix: Mix | None = None) -> torch.Tensor:
        """Logits; `perturbation` is added to the embedded input, `mix` mixes examples."""
        embedded = self.embed(batch)
        if perturbation is not None:
            embedded = embedded + perturbation.to(embedded.dtype)
        if mix is None:
            return self.classify(embedded, batch)
        return self.classify_mixed(embedded, batch, mix)

    def classify_mixed(self, embedded: torch.Tensor, batch: Batch, mix: Mix) -> torch.Tensor:
        """Logits of the mixed examples; here the embedded inputs are mixed."""
        mixed = mix.weight * embedded + (1.0 - mix.weight) * embedded[mix.partner]
        return self.classify(mixed, batch)

    def normalize_perturbation(self, perturbation: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Scale a perturbation of the embedded input to unit L2 norm per example."""
        norms = perturbation.flatten(1).norm(dim=1).clamp_min(1e-12)
        return perturbation / norms.view(-1, *[1] * (perturbation.dim() - 1))

    def concat(self, batches: list[Batch]) -> Batch:
        """One batch holding the examples of `batches` in order."""
        return {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}



def saved_label_names(saved: dict) -> list[str]:
    """The class names of a saved model folder's config.json, in class order."""
    if "label_names" in saved:
        return saved["label_names"]
    labels = saved.get("id2label") or {}
    return [labels[str(i)] for i in range(len(labels))]


def batch_norm_layers(model: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers of `model` (the layers with running statistics)."""
    kinds = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    return [module for module in model.modules() if isinstance(module, kinds)]


@contextmanager
def frozen_norm_statistics(model: nn.Module) -> Iterator[None]:
    """Forward passes inside leave the running statistics of BatchNorm layers as they were
    (VAT's adversarial passes, as in its code). Done with a momentum of 0, not by restoring
    the buffers afterwards: autograd keeps the running buffers for the backward pass."""
    norms = batch_norm_layers(model)
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None)
             for m in norms]
    for module in norms:
        module.momentum = 0.0
    try:
        yield
    finally:
        with torch.no_grad():
            for module, (momentum, count) in zip(norms, saved):
                module.momentum = momentum
                if count is not None:
                    module.num_batches_tracked.copy_(count)

"""Backbones behind one small interface (`Classifier`), one file per kind, each registered with
`@register_backbone`: Hugging Face text models, a linear head over cached encoder features,
image networks.

Importing this package imports every module in it, so a new backbone file is found without a
hand-kept list.
"""

from __future__ import annotations

import importlib
import pkgutil

from textssl.config import ModelConfig
from textssl.errors import TextsslError
from textssl.models.base import Batch, Classifier, Mix, batch_norm_layers, frozen_norm_statistics
from textssl.models.registry import BACKBONES, backbone_class, register_backbone, saved_backbone_class

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["BACKBONES", "Batch", "Classifier", "Mix", "backbone_class", "batch_norm_layers", "build_backbone",
           "frozen_norm_statistics", "register_backbone", "saved_backbone_class"]


def build_backbone(config: ModelConfig, label_names: list[str], columns: list[str], max_length: int = 64
                   ) -> Classifier:
    """The backbone of the recipe's `model:` section with a fresh head for `label_names`, checked
    against the dataset's `columns`."""
    kind = backbone_class(config)
    if kind.input_column not in columns:
        fitting = [f"{other.description} ({', '.join(other.names)})" for other in BACKBONES.values()
                   if other.input_column in columns and other.names]
        raise TextsslError(f"model {config.name!r} is {kind.description} and reads `{kind.input_column}`, which the "
                           f"dataset lacks (its columns: {', '.join(columns)})"
                           + (f"; use {' or '.join(fitting)}" if fitting else ""))
    return kind.from_config(config, label_names, max_length)

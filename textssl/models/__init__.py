"""Backbones behind one small interface (`Classifier`): Hugging Face text models, a small CNN."""

from __future__ import annotations

from textssl.errors import TextsslError
from textssl.models.base import Batch, Classifier, Mix, batch_norm_layers, frozen_norm_statistics
from textssl.models.cnn import SmallCNN
from textssl.models.hf import BUILTIN_MODELS, HFClassifier

IMAGE_MODELS = {"small-cnn": SmallCNN}

__all__ = ["BUILTIN_MODELS", "IMAGE_MODELS", "Batch", "Classifier", "HFClassifier", "Mix", "SmallCNN",
           "batch_norm_layers", "build_model", "frozen_norm_statistics"]


def build_model(name: str, label_names: list[str], input_column: str, max_length: int = 64,
                mix_layer: int = 0) -> Classifier:
    """The backbone `name` with a fresh head for `label_names`, checked against the data's input column."""
    model: Classifier
    if name in IMAGE_MODELS:
        model = IMAGE_MODELS[name](label_names)
    elif input_column == "image":
        raise TextsslError(f"model {name!r} reads text, but the dataset holds images; "
                           f"use model.name={next(iter(IMAGE_MODELS))}")
    else:
        model = HFClassifier(name, label_names, max_length, mix_layer)
    if model.input_column != input_column:
        raise TextsslError(f"model {name!r} reads `{model.input_column}`, but the dataset's input is `{input_column}`")
    return model

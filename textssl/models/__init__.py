"""Backbones behind one small interface (`Classifier`): Hugging Face text models, a linear head over
cached encoder features, image networks."""

from __future__ import annotations

from textssl.errors import TextsslError
from textssl.models.base import Batch, Classifier, Mix, batch_norm_layers, frozen_norm_statistics
from textssl.models.features import CachedFeatureClassifier, SentenceEncoder
from textssl.models.hf import BUILTIN_MODELS, HFClassifier
from textssl.models.image import IMAGE_MODEL_NAMES, ImageClassifier, SmallCNN, WideResNet, build_image_model

__all__ = ["BUILTIN_MODELS", "IMAGE_MODEL_NAMES", "Batch", "CachedFeatureClassifier", "Classifier", "HFClassifier",
           "ImageClassifier", "Mix", "SentenceEncoder", "SmallCNN", "WideResNet", "batch_norm_layers", "build_model", "frozen_norm_statistics"]


def build_model(name: str, label_names: list[str], input_column: str, max_length: int = 64, mix_layer: int = 0,
                cached_features: bool = False, standardise_features: bool = True,
                trust_remote_code: bool = False) -> Classifier:
    """The backbone `name` with a fresh head for `label_names`, checked against the data's input column."""
    model: Classifier | None = build_image_model(name, label_names)
    if model is None and input_column == "image":
        raise TextsslError(f"model {name!r} reads text, but the dataset holds images; "
                           f"use model.name={' or '.join(IMAGE_MODEL_NAMES)}")
    if model is not None and cached_features:
        raise TextsslError(f"model.cached_features applies to text encoders, not to the image network {name!r}")
    if model is None:
        model = (CachedFeatureClassifier(name, label_names, max_length, standardise_features, trust_remote_code)
                 if cached_features else HFClassifier(name, label_names, max_length, mix_layer, trust_remote_code))
    if model.input_column != input_column:
        raise TextsslError(f"model {name!r} reads `{model.input_column}`, but the dataset's input is `{input_column}`")
    return model

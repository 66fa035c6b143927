"""The backbone registry: each backbone file registers its `Classifier` with `@register_backbone`.

A recipe's `model:` section or a saved model folder is turned into a backbone by asking each
kind whether it is one of its own (`claims` / `recognises`); the Hugging Face sequence
classifier, which takes any model name, is the kind used when no other claims it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from textssl.config import ModelConfig
from textssl.errors import TextsslError

if TYPE_CHECKING:
    from textssl.models.base import Classifier

BACKBONES: dict[str, type[Classifier]] = {}
DEFAULT_KIND = "transformers"
C = TypeVar("C", bound="type[Classifier]")


def register_backbone(cls: C) -> C:
    """Class decorator: make the backbone kind `cls.kind` available to recipes and saved folders."""
    if cls.kind in BACKBONES and BACKBONES[cls.kind] is not cls:
        raise ValueError(f"two backbones are of kind {cls.kind!r}")
    BACKBONES[cls.kind] = cls
    return cls


def backbone_class(config: ModelConfig) -> type[Classifier]:
    """The kind that builds the recipe's `model:` section."""
    claiming = [cls for kind, cls in BACKBONES.items() if kind != DEFAULT_KIND and cls.claims(config)]
    if len(claiming) > 1:
        raise TextsslError(f"model {config.name!r} with these options would be {' and also '.join(c.description for c in claiming)}; "
                           f"change model.name or the options")
    return claiming[0] if claiming else BACKBONES[DEFAULT_KIND]


def saved_backbone_class(saved: dict) -> type[Classifier]:
    """The kind that wrote a model folder, from its config.json."""
    return next((cls for kind, cls in BACKBONES.items() if kind != DEFAULT_KIND and cls.recognises(saved)),
                BACKBONES[DEFAULT_KIND])

"""augment: text and image augmentation, usable on its own or through textssl.

Every augmenter takes a list of texts and gives back one view per text, or K per text
with ``n=K``; a ``seed`` makes it deterministic, independently of batching:

>>> from augment import TfIdfReplace, Sometimes, Sequential, RandomSwap
>>> corpus = ["a gentle film about loss", "a loud film", "a film about nothing at all"]
>>> tfidf = TfIdfReplace(p=0.7).fit(corpus)
>>> aug = Sequential(tfidf, Sometimes(RandomSwap(p=0.2), p=0.5), seed=0)
>>> views = aug(corpus, n=2)
>>> [len(v) for v in views]
[2, 2, 2]

Image augmenters (torch tensors) live in ``augment.image`` (``WeakImage``, ``RandAugment``,
``Cutout``); the ``augment`` command writes views of a whole file or dataset.
"""

from __future__ import annotations

from typing import Any

from augment.base import Augmenter, OneOf, Sequential, Sometimes
from augment.errors import AugmentError
from augment.text import (ApertiumTranslator, BackTranslation, NlpaugAdapter, RandomDelete, RandomInsert,
                          RandomSwap, Seq2SeqTranslator, Synonym, TfIdfReplace, TfIdfStats, UniformReplace)

__version__ = "0.2.0"
__all__ = ["ApertiumTranslator", "AugmentError", "Augmenter", "BackTranslation", "Cutout", "NlpaugAdapter",
           "OneOf", "RandAugment", "RandomDelete", "RandomInsert", "RandomSwap", "Seq2SeqTranslator",
           "Sequential", "Sometimes", "Synonym", "TfIdfReplace", "TfIdfStats", "UniformReplace", "WeakImage"]

_IMAGE = {"WeakImage", "RandAugment", "Cutout"}


def __getattr__(name: str) -> Any:
    # Image ops import torch (slow); load them only when asked for.
    if name in _IMAGE:
        from augment import image
        return getattr(image, name)
    raise AttributeError(f"module 'augment' has no attribute {name!r}")

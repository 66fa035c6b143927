"""UDA's uniform word replacement: each word, with probability p, becomes a word drawn
uniformly from the vocabulary; texts of fewer than 3 words are left alone.

>>> from augment import UniformReplace
>>> aug = UniformReplace(p=0.5, seed=0).fit(["a gentle film about loss", "a loud film"])
>>> aug(["too short", "a gentle film about loss"])[0]
'too short'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from augment.base import Augmenter, check_probability, uniforms
from augment.errors import AugmentError
from augment.registry import register_op
from augment.text.tokenize import replace_in_texts, split_words, word_list


@register_op("uniform", aliases=("unif",))
class UniformReplace(Augmenter):
    """Replace each word with probability ``p`` by a uniform vocabulary word (texts ≥ 3 words)."""

    name = "uniform"
    min_words = 3

    def __init__(self, p: float = 0.3, vocabulary: Sequence[str] | None = None, seed: int = 0) -> None:
        self.p = check_probability(p, self.name)
        self.seed = seed
        self.vocabulary: np.ndarray | None = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def fit(self, corpus: Iterable[str]) -> UniformReplace:
        """Take the vocabulary (basic-tokenizer words) from ``corpus``."""
        return self.set_vocabulary({w for text in corpus for w in word_list(text)})

    def set_vocabulary(self, vocabulary: Iterable[str]) -> UniformReplace:
        vocab = sorted(set(vocabulary))
        if not vocab:
            raise AugmentError("uniform: the vocabulary is empty")
        self.vocabulary = np.array(vocab, dtype=object)
        return self

    def apply(self, texts: list[str], keys: np.ndarray) -> list[str]:
        if self.vocabulary is None:
            raise AugmentError("uniform: no vocabulary; call fit(corpus) or pass vocabulary=[...]")
        parts = [split_words(t) for t in texts]
        lengths = np.array([n if (n := len(p) // 2) >= self.min_words else 0 for p in parts], dtype=np.int64)
        doc = np.repeat(np.arange(len(texts)), lengths)
        position = np.arange(len(doc)) - (np.cumsum(lengths) - lengths)[doc]
        hit = np.flatnonzero(uniforms(keys[doc], position, stream=1) < self.p)
        picks = (uniforms(keys[doc[hit]], position[hit], stream=2) * len(self.vocabulary)).astype(np.int64)
        return replace_in_texts(texts, parts, doc[hit].tolist(), position[hit].tolist(), self.vocabulary[picks])

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "vocabulary": None if self.vocabulary is None else len(self.vocabulary)}

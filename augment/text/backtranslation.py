"""Back-translation as in UDA: split a text into sentences, send each sentence to a pivot
language and back (sampling with a temperature on neural engines), join the round trips,
and keep the original when either text is shorter than ``min_length`` characters or the
length changed by more than ``max_length_change`` (relative to the original).

>>> from augment import BackTranslation
>>> bt = BackTranslation(backend="apertium", seed=0)  # doctest: +SKIP
>>> bt(["The film is long. It is also very good."])  # doctest: +SKIP
['The film is long. It is also very good.']

Backends: ``"apertium"`` (Debian ``apertium-eng-spa``; any pair via ``pivot=``), ``"marian"``
(MarianMT ``Helsinki-NLP/opus-mt-en-<pivot>`` and back), or any translator object, e.g.
``Seq2SeqTranslator((model, tokenizer), (model, tokenizer))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augment.base import Augmenter, splitmix64
from augment.errors import AugmentError
from augment.registry import register_op
from augment.text.tokenize import split_sentences
from augment.text.translators import ApertiumTranslator, Seq2SeqTranslator, Translator


def length_check(original: str, new: str, min_length: int = 10, max_length_change: float = 0.5) -> str:
    """UDA's filter: ``new``, unless a side is shorter than ``min_length`` characters or
    ``|len(new) − len(original)| / len(original) > max_length_change`` (then ``original``)."""
    if len(original) < min_length or len(new) < min_length:
        return original
    if abs(len(new) - len(original)) / len(original) > max_length_change:
        return original
    return new


def make_translator(backend: str | Translator, pivot: str | None, temperature: float) -> Translator:
    if not isinstance(backend, str):
        return backend
    if backend == "apertium":
        return ApertiumTranslator(pivot=pivot or "spa")
    if backend in ("marian", "seq2seq"):
        pivot = pivot or "de"
        return Seq2SeqTranslator(f"Helsinki-NLP/opus-mt-en-{pivot}", f"Helsinki-NLP/opus-mt-{pivot}-en",
                                 temperature=temperature)
    raise AugmentError(f"backtranslation: unknown backend {backend!r}; use 'apertium', 'marian' or a translator")


@register_op("backtranslation", aliases=("bt",))
class BackTranslation(Augmenter):
    """English → pivot → English per sentence, then UDA's length filter per text."""

    name = "backtranslation"

    def __init__(self, backend: str | Translator = "marian", pivot: str | None = None, temperature: float = 0.9,
                 split: bool = True, min_length: int = 10, max_length_change: float = 0.5, seed: int = 0) -> None:
        self.translator = make_translator(backend, pivot, temperature)
        self.split, self.min_length, self.max_length_change = split, int(min_length), float(max_length_change)
        self.seed = seed

    def sentences(self, text: str) -> list[str]:
        return split_sentences(text) if self.split else [" ".join(text.split())]

    def round_trip(self, sentences: list[str], seed: int = 0) -> list[str]:
        """Raw round trips, one per sentence (deterministic engines see each sentence once)."""
        if not self.translator.deterministic:
            return self.translator.round_trip(sentences, seed)
        unique = list(dict.fromkeys(sentences))
        translated = dict(zip(unique, self.translator.round_trip(unique, seed)))
        return [translated[s] for s in sentences]

    def apply(self, texts: list[str], keys: np.ndarray) -> list[str]:
        parts = [self.sentences(t) for t in texts]
        flat = [s for p in parts for s in p]
        seed = int(splitmix64(np.bitwise_xor.reduce(keys) if len(keys) else np.uint64(0))) & 0x7FFFFFFF
        translated = iter(self.round_trip(flat, seed) if flat else [])
        out = []
        for text, sentences in zip(texts, parts):
            new = " ".join(next(translated) for _ in sentences)
            out.append(length_check(text, new, self.min_length, self.max_length_change) if sentences else text)
        return out

    def params(self) -> dict[str, Any]:
        return {**self.translator.params(), "split": self.split, "min_length": self.min_length,
                "max_length_change": self.max_length_change}

"""Use any nlpaug augmenter through this library's interface (seeding, copies, composition).

nlpaug draws from the process-wide ``random`` and ``numpy.random`` state and has no seed
argument. The adapter re-seeds both from each text's key right before augmenting that
text, holding a lock so that threads cannot interleave, and restores the previous global
states afterwards. Given the seed, the output is then as reproducible as nlpaug allows:
exactly, for augmenters that use only those two generators (random word/char ops,
TF-IDF, WordNet synonyms); not for ones that sample inside torch models.

>>> import nlpaug.augmenter.word as naw
>>> from augment import NlpaugAdapter
>>> aug = NlpaugAdapter(naw.RandomWordAug(action="swap"), seed=0)
>>> aug(["one two three four five"]) == aug(["one two three four five"])
True
"""

from __future__ import annotations

import random
import threading
from typing import Any

import numpy as np

from augment.base import Augmenter

_lock = threading.Lock()


class NlpaugAdapter(Augmenter):
    """Wrap ``nlpaug_augmenter`` (anything with ``.augment(text)``)."""

    name = "nlpaug"

    def __init__(self, nlpaug_augmenter: Any, seed: int = 0) -> None:
        if not callable(getattr(nlpaug_augmenter, "augment", None)):
            raise TypeError(f"nlpaug: {nlpaug_augmenter!r} has no augment() method")
        self.augmenter = nlpaug_augmenter
        self.seed = seed

    def apply(self, texts: list[str], keys: np.ndarray) -> list[str]:
        out = []
        with _lock:
            py_state, np_state = random.getstate(), np.random.get_state()
            try:
                for text, key in zip(texts, keys):
                    random.seed(int(key))
                    np.random.seed(int(key) & 0xFFFFFFFF)
                    result = self.augmenter.augment(text)
                    # nlpaug >= 1.1.11 returns a list (one output per input); older ones a str.
                    out.append(result[0] if isinstance(result, list) and result else result or text)
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
        return out

    def params(self) -> dict[str, Any]:
        a = self.augmenter
        return {"class": f"{type(a).__module__}.{type(a).__name__}",
                **{k: getattr(a, k) for k in ("action", "aug_p", "aug_min", "aug_max") if
                   isinstance(getattr(a, k, None), (str, int, float))}}

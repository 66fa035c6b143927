"""The augmenter interface, its seeding scheme, and the composition operators.

An augmenter is called on a list of texts and returns one augmented text per input,
or, with ``n=K``, a list of K copies per input:

>>> from augment import RandomSwap, Sequential, RandomDelete
>>> aug = Sequential(RandomSwap(p=0.3), RandomDelete(p=0.1), seed=0)
>>> views = aug(["a quiet film about grief and memory"], n=2)
>>> len(views), len(views[0])
(1, 2)
>>> aug(["a quiet film about grief and memory"]) == [views[0][0]]
True

Seeding. nlpaug draws from the global ``random``/``numpy`` state, so its output depends
on everything that ran before. Here every (text, copy) pair gets its own 64-bit *key*,
a hash of ``(seed, copy, identity)`` where identity is the text itself, or ``ids[i]``
when the caller passes ``ids`` (e.g. row numbers, so that duplicate texts get different
views). All randomness for that text comes from its key: either a
``numpy.random.Generator`` seeded with it, or counter-based uniforms
``splitmix64(key, stream, position)`` that vectorised augmenters draw for whole batches
at once. A text's augmentation therefore does not depend on the batch it came in, its
position in it, or on other calls; copy 0 of ``aug(texts, n=K)`` equals ``aug(texts)``.
Inside ``Sequential``/``OneOf``/``Sometimes`` the outer augmenter's seed governs: children
receive keys derived from the parent's keys, and their own ``seed`` is not used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from typing import Any, overload

import numpy as np

from augment.errors import AugmentError

_MASK64 = (1 << 64) - 1


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on uint64 (wrap-around arithmetic)."""
    with np.errstate(over="ignore"):
        x = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def derive(keys: np.ndarray, salt: int) -> np.ndarray:
    """Independent child keys for sub-step ``salt`` (a composition's child, a stream)."""
    return splitmix64(np.asarray(keys, dtype=np.uint64) ^ splitmix64(np.uint64(salt & _MASK64)))


def uniforms(keys: np.ndarray, positions: np.ndarray | int, stream: int) -> np.ndarray:
    """Counter-based uniforms in [0, 1): one per (key, position) pair of ``stream``.

    ``keys`` and ``positions`` broadcast against each other; the same (key, stream,
    position) always gives the same number, whatever else is drawn around it.
    """
    with np.errstate(over="ignore"):
        bits = splitmix64(derive(keys, stream) + np.asarray(positions, dtype=np.uint64))
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def text_keys(texts: Sequence[str], seed: int, copy: int = 0,
              ids: Sequence[Hashable] | None = None) -> np.ndarray:
    """One uint64 key per text from ``(seed, copy, ids[i] or texts[i])``."""
    if ids is not None and len(ids) != len(texts):
        raise AugmentError(f"ids: got {len(ids)} ids for {len(texts)} texts")
    keys = np.empty(len(texts), dtype=np.uint64)
    prefix = f"{seed}\x1f{copy}\x1f".encode()
    for i, text in enumerate(texts):
        if ids is None:
            identity = text
        else:  # numpy scalars as their Python values, so that np.int64(3) and 3 are the same id
            value = ids[i].item() if isinstance(ids[i], np.generic) else ids[i]
            identity = f"id\x1f{value!r}"
        digest = hashlib.blake2b(prefix + identity.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        keys[i] = int.from_bytes(digest, "little")
    return keys


def rng_for(key: np.uint64 | int) -> np.random.Generator:
    """A numpy Generator driven by one text's key."""
    return np.random.Generator(np.random.PCG64(int(key)))


class Augmenter:
    """Base class: ``aug(texts)`` → list of str; ``aug(texts, n=K)`` → list of K-lists.

    Subclasses implement either ``augment_one(text, rng)`` (one text, its own Generator)
    or, when they can work on a whole batch at once, ``apply(texts, keys)``.
    """

    name: str = "augmenter"
    seed: int = 0

    @overload
    def __call__(self, texts: Sequence[str], n: None = None, *, ids: Sequence[Hashable] | None = None) -> list[str]: ...
    @overload
    def __call__(self, texts: Sequence[str], n: int, *, ids: Sequence[Hashable] | None = None) -> list[list[str]]: ...

    def __call__(self, texts, n=None, *, ids=None):
        texts = _check_texts(texts, self.name)
        if n is None:
            return self.apply(texts, text_keys(texts, self.seed, 0, ids))
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise AugmentError(f"{self.name}: n must be a positive integer, got {n!r}")
        keys = np.concatenate([text_keys(texts, self.seed, c, ids) for c in range(n)])
        flat = self.apply(texts * n, keys)
        m = len(texts)
        return [[flat[c * m + i] for c in range(n)] for i in range(m)]

    def apply(self, texts: list[str], keys: np.ndarray) -> list[str]:
        """Augment ``texts[i]`` with randomness from ``keys[i]``."""
        return [self.augment_one(text, rng_for(key)) for text, key in zip(texts, keys)]

    def augment_one(self, text: str, rng: np.random.Generator) -> str:
        raise NotImplementedError(f"{type(self).__name__} implements neither apply nor augment_one")

    def params(self) -> dict[str, Any]:
        """The settings that determine the output (for provenance), JSON-serialisable."""
        return {}

    def describe(self) -> dict[str, Any]:
        """``{"op": name, "seed": seed, **params}``: what produced a view."""
        return {"op": self.name, "seed": self.seed, **self.params()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({inner})"


def _check_texts(texts: Any, name: str) -> list[str]:
    if isinstance(texts, str):
        raise AugmentError(f"{name}: expected a list of texts, got one str; call it on [text]")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise AugmentError(f"{name}: text {i} is {type(text).__name__}, not str")
    return texts


def _check_children(children: Sequence[Augmenter], name: str) -> list[Augmenter]:
    children = list(children)
    if not children:
        raise AugmentError(f"{name}: needs at least one augmenter")
    for child in children:
        if not isinstance(child, Augmenter):
            raise AugmentError(f"{name}: {child!r} is not an Augmenter")
    return children


class Sequential(Augmenter):
    """Apply each augmenter in turn.

    >>> from augment import Sequential, RandomSwap, RandomDelete
    >>> Sequential(RandomSwap(p=0.5), RandomDelete(p=0.2), seed=1)(["one two three four"])[0] != ""
    True
    """

    name = "sequential"

    def __init__(self, *augmenters: Augmenter, seed: int = 0) -> None:
        self.augmenters = _check_children(augmenters, self.name)
        self.seed = seed

    def apply(self, texts: list[str], keys: np.ndarray) -> list[str]:
        for i, child in enumerate(self.augmenters):
            texts = child.apply(texts, derive(keys, i + 1))
        return texts

    def params(self) -> dict[str, Any]:
        return {"augmenters": [child.describe() for child in self.augmenters]}


class OneOf(Augmenter):
    """Apply one augmenter per text, chosen at random (with optional ``weights``).

    >>> from augment import OneOf, RandomSwap, RandomDelete
    >>> len(OneOf([RandomSwap(), RandomDelete()], seed=0)(["a b c", "d e f"]))
    2
    """

    name = "one_of"

    def __init__(self, augmenters: Sequence[Augmenter], weights: Sequence[float] | None = None,
                 seed: int = 0) -> None:
        self.augmenters = _check_children(augmenters, self.name)
        w = np.ones(len(self.augmenters)) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (len(self.augmenters),) or (w < 0).any() or w.sum() <= 0:
            raise AugmentError(f"{self.name}: weights must be {len(self.augmenters)} non-negative numbers, not all 0")
        self.weights = w / w.sum()
        self.seed = seed

    def apply(self, texts: list[str], keys: np.ndarray) -> list[str]:
        choice = np.searchsorted(np.cumsum(self.weights), uniforms(keys, 0, stream=0), side="right")
        choice = np.minimum(choice, len(self.augmenters) - 1)
        out = list(texts)
        for i, child in enumerate(self.augmenters):
            rows = np.flatnonzero(choice == i)
            if rows.size:
                for row, text in zip(rows, child.apply([texts[r] for r in rows], derive(keys[rows], i + 1))):
                    out[row] = text
        return out

    def params(self) -> dict[str, Any]:
        return {"augmenters": [child.describe() for child in self.augmenters],
                "weights": [round(float(w), 6) for w in self.weights]}


class Sometimes(Augmenter):
    """Apply ``augmenter`` to each text with probability ``p``; leave the rest as they are.

    >>> from augment import Sometimes, RandomDelete
    >>> Sometimes(RandomDelete(p=0.5), p=0.0)(["kept as it is"])
    ['kept as it is']
    """

    name = "sometimes"

    def __init__(self, augmenter: Augmenter, p: float = 0.5, seed: int = 0) -> None:
        (self.augmenter,) = _check_children([augmenter], self.name)
        self.p = check_probability(p, self.name)
        self.seed = seed

    def apply(self, texts: list[str], keys: np.ndarray) -> list[str]:
        rows = np.flatnonzero(uniforms(keys, 0, stream=0) < self.p)
        out = list(texts)
        if rows.size:
            for row, text in zip(rows, self.augmenter.apply([texts[r] for r in rows], derive(keys[rows], 1))):
                out[row] = text
        return out

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "augmenter": self.augmenter.describe()}


def check_probability(p: float, name: str, param: str = "p") -> float:
    """``p`` as a float in [0, 1], or an AugmentError naming the op and parameter."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise AugmentError(f"{name}: {param} must be a number in [0, 1], got {p!r}") from None
    if not 0.0 <= value <= 1.0:
        raise AugmentError(f"{name}: {param} must be in [0, 1], got {p!r}")
    return value

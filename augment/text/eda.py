"""WordNet synonym replacement and the EDA operations (Wei & Zou 2019).

Texts are split on whitespace; punctuation glued to a word (``"film,"``) stays in place
around its replacement; the result is joined with single spaces. Each op changes
``max(1, int(p · words))`` words (deletion: each word with probability p), as in EDA.

>>> from augment import Synonym, RandomInsert, RandomSwap, RandomDelete
>>> Synonym(p=0.5, seed=0)(["A good film"])[0].split()[0]
'A'
>>> sorted(RandomSwap(p=0.5, seed=0)(["one two three four"])[0].split())
['four', 'one', 'three', 'two']
>>> RandomDelete(p=0.0)(["nothing is dropped"])
['nothing is dropped']
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from augment.base import Augmenter, check_probability
from augment.registry import register_op
from augment.text.wordnet import pos_tags, synonyms

STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me more most my
myself no nor not now of off on once only or other our ours ourselves out over own same she should so some
such than that the their theirs them themselves then there these they this those through to too under until
up very was we were what when where which while who whom why will with would you your yours yourself
yourselves s t don shouldn wasn weren won isn aren didn doesn hadn hasn haven couldn wouldn mustn needn""".split())

_CORE = re.compile(r"^(\W*)([A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z])(\W*)$")


def _core(token: str) -> tuple[str, str, str] | None:
    match = _CORE.match(token)
    return match.groups() if match else None  # type: ignore[return-value]


def _match_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def _count(p: float, n: int) -> int:
    return max(1, int(p * n))


class _WordOp(Augmenter):
    """An EDA operation on whitespace words, set by one probability ``p``."""

    def __init__(self, p: float = 0.1, seed: int = 0) -> None:
        self.p = check_probability(p, self.name)
        self.seed = seed

    def params(self) -> dict[str, Any]:
        return {"p": self.p}


class _WordNetOp(_WordOp):
    """An operation that needs WordNet synonyms of the words that are not stop-words."""

    def __init__(self, p: float = 0.1, seed: int = 0, stopwords: frozenset[str] | set[str] = STOPWORDS) -> None:
        super().__init__(p, seed)
        self.stopwords = frozenset(stopwords)

    def _candidates(self, tokens: list[str]) -> list[tuple[int, tuple[str, str, str], tuple[str, ...]]]:
        """(index, (prefix, word, suffix), synonyms) for each replaceable token."""
        cores = [_core(t) for t in tokens]
        tags = pos_tags([c[1] if c else t for c, t in zip(cores, tokens)])
        found = []
        for i, (core, tag) in enumerate(zip(cores, tags)):
            if core is None or core[1].lower() in self.stopwords:
                continue
            options = synonyms(core[1].lower(), tag) if tag else ()
            if options:
                found.append((i, core, options))
        return found


@register_op("synonym", aliases=("synonyms",))
class Synonym(_WordNetOp):
    """Replace ``max(1, int(p·n))`` non-stop-words that have WordNet synonyms by a random synonym.

    Synonyms are restricted to the word's part of speech: nltk's tagger when installed,
    else each word's most frequent WordNet POS (see ``augment.text.wordnet.pos_tags``).
    """

    name = "synonym"

    def augment_one(self, text: str, rng: np.random.Generator) -> str:
        tokens = text.split()
        candidates = self._candidates(tokens)
        if not candidates:
            return text
        chosen = rng.choice(len(candidates), size=min(len(candidates), _count(self.p, len(tokens))), replace=False)
        for c in sorted(chosen.tolist()):
            i, (prefix, word, suffix), options = candidates[c]
            tokens[i] = prefix + _match_case(options[rng.integers(len(options))], word) + suffix
        return " ".join(tokens)


@register_op("insert")
class RandomInsert(_WordNetOp):
    """EDA random insertion: ``max(1, int(p·n))`` times, a synonym of a random word goes to a random place."""

    name = "insert"

    def augment_one(self, text: str, rng: np.random.Generator) -> str:
        tokens = text.split()
        candidates = self._candidates(tokens)
        if not candidates:
            return text
        for _ in range(_count(self.p, len(tokens))):
            _, _, options = candidates[rng.integers(len(candidates))]
            tokens.insert(int(rng.integers(len(tokens) + 1)), options[rng.integers(len(options))])
        return " ".join(tokens)


@register_op("swap")
class RandomSwap(_WordOp):
    """EDA random swap: ``max(1, int(p·n))`` times, two random words trade places."""

    name = "swap"

    def augment_one(self, text: str, rng: np.random.Generator) -> str:
        tokens = text.split()
        if len(tokens) < 2:
            return text
        for _ in range(_count(self.p, len(tokens))):
            i, j = rng.choice(len(tokens), size=2, replace=False)
            tokens[i], tokens[j] = tokens[j], tokens[i]
        return " ".join(tokens)


@register_op("delete")
class RandomDelete(_WordOp):
    """EDA random deletion: each word is dropped with probability ``p``; one word always stays."""

    name = "delete"

    def augment_one(self, text: str, rng: np.random.Generator) -> str:
        tokens = text.split()
        if len(tokens) < 2:
            return text
        keep = rng.random(len(tokens)) >= self.p
        if not keep.any():
            keep[rng.integers(len(tokens))] = True
        return " ".join(t for t, k in zip(tokens, keep) if k)

"""UDA's TF-IDF word replacement (Xie et al. 2019, google-research/uda word_level_augment.py).

Statistics over a corpus of N examples, words from the basic (pre-WordPiece) tokenizer:
``IDF(w) = log(N / DF(w))`` with DF the number of examples containing w, and
``TFIDF(w) = Σ_d count_d(w) / |d| · IDF(w)``. For an example x_1..x_n:
``s_i = count(x_i)/n · IDF(x_i)``, ``C = max_i s_i`` and
``P(replace x_i) = min(1, p · (C − s_i) / mean_j(C − s_j))`` — the top-scored word is never
replaced and an example whose scores are all equal is left alone. A replaced word is
drawn from the vocabulary with ``q(w) ∝ max_v TFIDF(v) − TFIDF(w)``.

>>> from augment import TfIdfReplace
>>> corpus = ["a gentle film about loss", "a loud film", "a film about nothing at all"]
>>> aug = TfIdfReplace(p=0.7, seed=0).fit(corpus)
>>> [round(float(x), 3) for x in aug.replacement_probabilities("a gentle film about loss")]
[1.0, 0.0, 1.0, 0.839, 0.0]
>>> len(aug(corpus, n=3)[0])
3

Two choices the original leaves open: a word never seen in the corpus counts as seen in
one example (IDF = log N); and if every vocabulary word has the same TF-IDF, q is
uniform. Words that are not replaced keep their original spelling and spacing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augment.atomic import written_whole
from augment.base import Augmenter, check_probability, uniforms
from augment.errors import AugmentError
from augment.registry import register_op
from augment.text.tokenize import norms, replace_in_texts, split_words, word_list

FORMAT = "augment.tfidf/1"


@dataclass(frozen=True)
class TfIdfStats:
    """Corpus statistics; ``words`` sorted by decreasing TF-IDF (ties by word)."""

    words: list[str]
    doc_freq: np.ndarray
    """DF(w): number of examples that contain w."""
    tf_sum: np.ndarray
    """Σ_d count_d(w) / |d|, so that TFIDF(w) = tf_sum · IDF(w)."""
    n_docs: int

    @property
    def idf(self) -> np.ndarray:
        return np.log(self.n_docs / self.doc_freq)

    @property
    def tf_idf(self) -> np.ndarray:
        return self.tf_sum * self.idf

    @classmethod
    def fit(cls, corpus: Iterable[str], chunk_size: int = 10_000) -> TfIdfStats:
        """Count over ``corpus`` in chunks of ``chunk_size`` texts: one pass of tokenisation, the
        counting in numpy, so memory grows with the vocabulary, not with the corpus."""
        index: dict[str, int] = {}
        doc_freq = np.zeros(0, dtype=np.int64)
        tf_sum = np.zeros(0, dtype=np.float64)
        n_docs = 0
        for texts in _chunked(corpus, chunk_size):
            tokens = [word_list(text) for text in texts]
            ids = np.fromiter((index.setdefault(t, len(index)) for words in tokens for t in words), dtype=np.int64)
            lengths = np.fromiter((len(words) for words in tokens), dtype=np.int64, count=len(tokens))
            doc = np.repeat(np.arange(len(tokens)), lengths)
            vocab = len(index)
            doc_freq = np.pad(doc_freq, (0, vocab - len(doc_freq)))
            tf_sum = np.pad(tf_sum, (0, vocab - len(tf_sum)))
            doc_freq += np.bincount(np.unique(doc * vocab + ids) % vocab, minlength=vocab)
            tf_sum += np.bincount(ids, weights=1.0 / lengths[doc], minlength=vocab)
            n_docs += len(tokens)
        if n_docs == 0 or not index:
            raise AugmentError("tfidf: cannot fit on an empty corpus (no words)")
        names = np.array(list(index), dtype=object)
        tf_idf = tf_sum * np.log(n_docs / doc_freq)
        order = np.lexsort((names, -tf_idf))
        return cls([str(w) for w in names[order]], doc_freq[order], tf_sum[order], n_docs)

    def save(self, path: str | Path) -> None:
        data = {"format": FORMAT, "n_docs": self.n_docs, "words": self.words,
                "doc_freq": self.doc_freq.tolist(), "tf_sum": self.tf_sum.tolist()}
        with written_whole(Path(path)) as partial:  # a cut-off file would stop every later --stats run
            partial.write_text(json.dumps(data, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> TfIdfStats:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise AugmentError(f"{path}: cannot read TF-IDF statistics ({error})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise AugmentError(f"{path}: not a TF-IDF statistics file (expected format {FORMAT!r})")
        return cls(list(data["words"]), np.asarray(data["doc_freq"], dtype=np.int64),
                   np.asarray(data["tf_sum"], dtype=np.float64), int(data["n_docs"]))

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update("\n".join(self.words).encode())
        digest.update(self.doc_freq.tobytes() + self.tf_sum.tobytes() + str(self.n_docs).encode())
        return digest.hexdigest()[:16]


def _chunked(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(texts)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@register_op("tfidf", aliases=("tf_idf",))
class TfIdfReplace(Augmenter):
    """Replace uninformative words (low TF-IDF) by words drawn with q(w); see the module doc."""

    name = "tfidf"

    def __init__(self, p: float = 0.7, stats: TfIdfStats | None = None, seed: int = 0) -> None:
        self.p = check_probability(p, self.name)
        self.seed = seed
        self.stats: TfIdfStats | None = None
        if stats is not None:
            self.set_stats(stats)

    def fit(self, corpus: Iterable[str]) -> TfIdfReplace:
        return self.set_stats(TfIdfStats.fit(corpus))

    def save(self, path: str | Path) -> None:
        self._fitted().save(path)

    def load(self, path: str | Path) -> TfIdfReplace:
        return self.set_stats(TfIdfStats.load(path))

    def set_stats(self, stats: TfIdfStats) -> TfIdfReplace:
        self.stats = stats
        self._index = {w: i for i, w in enumerate(stats.words)}
        self._idf = stats.idf
        self._unseen_idf = float(np.log(stats.n_docs))
        tf_idf = stats.tf_idf
        weights = tf_idf.max() - tf_idf
        if weights.sum() <= 0:
            weights = np.ones_like(weights)
        self.q = weights / weights.sum()
        """q(w) over ``stats.words``: the replacement-word distribution."""
        self._cdf = np.cumsum(weights)
        self._words = np.array(stats.words, dtype=object)
        return self

    def _fitted(self) -> TfIdfStats:
        if self.stats is None:
            raise AugmentError("tfidf: no statistics; call fit(corpus) or load(path) first")
        return self.stats

    def _scores(self, tokens: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-token replacement probability, plus each token's doc and position."""
        lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        flat = [w for t in tokens for w in t]
        index, unseen = self._index, {}
        # Distinct unseen words get distinct ids beyond the vocabulary (they count separately).
        ids = np.fromiter((index[w] if w in index else unseen.setdefault(w, len(index) + len(unseen))
                           for w in flat), dtype=np.int64, count=len(flat))
        idf = np.concatenate([self._idf, np.full(len(unseen), self._unseen_idf)])
        doc = np.repeat(np.arange(len(tokens)), lengths)
        starts = np.cumsum(lengths) - lengths
        position = np.arange(len(flat)) - starts[doc]
        if not flat:
            return np.zeros(0), doc, position
        # count(x_i) within its example: group by (doc, word id).
        _, inverse, counts = np.unique(doc * len(idf) + ids, return_inverse=True, return_counts=True)
        score = counts[inverse] / lengths[doc] * idf[ids]
        nonempty = lengths > 0
        top = np.zeros(len(tokens))
        top[nonempty] = np.maximum.reduceat(score, starts[nonempty])
        gap = top[doc] - score
        mean_gap = np.zeros(len(tokens))
        mean_gap[nonempty] = np.add.reduceat(gap, starts[nonempty]) / lengths[nonempty]
        with np.errstate(divide="ignore", invalid="ignore"):
            prob = np.where(mean_gap[doc] > 0, np.minimum(1.0, self.p * gap / mean_gap[doc]), 0.0)
        return prob, doc, position

    def replacement_probabilities(self, text: str) -> np.ndarray:
        """P(replace) for each basic-tokenizer word of ``text``."""
        self._fitted()
        return self._scores([word_list(text)])[0]

    def sample_words(self, u: np.ndarray) -> np.ndarray:
        """Replacement words for uniforms ``u`` (inverse CDF of q by searchsorted)."""
        i = np.searchsorted(self._cdf, u * self._cdf[-1], side="right")
        return self._words[np.minimum(i, len(self._words) - 1)]

    def apply(self, texts: list[str], keys: np.ndarray) -> list[str]:
        self._fitted()
        parts = [split_words(t) for t in texts]
        prob, doc, position = self._scores([norms(t, p) for t, p in zip(texts, parts)])
        hit = np.flatnonzero(uniforms(keys[doc], position, stream=1) < prob)
        new_words = self.sample_words(uniforms(keys[doc[hit]], position[hit], stream=2))
        return replace_in_texts(texts, parts, doc[hit].tolist(), position[hit].tolist(), new_words)

    def params(self) -> dict[str, Any]:
        stats = self.stats
        return {"p": self.p, "stats": None if stats is None else
                {"n_docs": stats.n_docs, "vocabulary": len(stats.words), "sha256": stats.fingerprint()}}

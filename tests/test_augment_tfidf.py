"""Fidelity of TfIdfReplace to UDA's TF-IDF word replacement (DESIGN.md §4)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy.stats import chi2

from augment import AugmentError, TfIdfReplace, TfIdfStats
from augment.text.tokenize import split_words, word_list

CORPUS = ["the film is good", "the film is bad", "the plot is thin", "a good good cast"]


def reference_stats(corpus: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """IDF and corpus TF-IDF written out as in the paper's code, with plain dicts."""
    docs = [word_list(t) for t in corpus]
    df = Counter(w for d in docs for w in set(d))
    idf = {w: math.log(len(docs) / c) for w, c in df.items()}
    tf_idf: dict[str, float] = {}
    for d in docs:
        for w in d:
            tf_idf[w] = tf_idf.get(w, 0.0) + 1 / len(d) * idf[w]
    return idf, tf_idf


def reference_probabilities(words: list[str], idf: dict[str, float], p: float) -> list[float]:
    counts = Counter(words)
    s = [counts[w] / len(words) * idf[w] for w in words]
    top = max(s)
    gaps = [top - x for x in s]
    mean = sum(gaps) / len(gaps)
    return [0.0 if mean == 0 else min(1.0, p * g / mean) for g in gaps]


def test_statistics_count_documents_not_occurrences() -> None:
    stats = TfIdfStats.fit(CORPUS)
    idf = dict(zip(stats.words, stats.idf))
    tf_idf = dict(zip(stats.words, stats.tf_idf))
    # "good" occurs 3 times but in 2 of 4 examples: IDF = log(4/2), not log(4/3).
    assert idf["good"] == pytest.approx(math.log(2))
    assert idf["is"] == pytest.approx(math.log(4 / 3))
    assert idf["the"] == pytest.approx(math.log(4 / 3))
    # TFIDF(good) = (1/4 + 2/4) · log 2
    assert tf_idf["good"] == pytest.approx(0.75 * math.log(2))
    ref_idf, ref_tf_idf = reference_stats(CORPUS)
    assert idf == pytest.approx(ref_idf) and tf_idf == pytest.approx(ref_tf_idf)
    assert list(stats.tf_idf) == sorted(stats.tf_idf, reverse=True)


def test_probabilities_equal_the_formula_on_a_hand_computed_example() -> None:
    aug = TfIdfReplace(p=0.7).fit(CORPUS)
    # "the film is good": n=4, IDF: the log(4/3), film log 2, is log(4/3), good log 2.
    a, b = math.log(4 / 3) / 4, math.log(2) / 4
    gaps = [b - a, 0, b - a, 0]  # C = b: "film" and "good" tie for the top
    mean = sum(gaps) / 4
    expected = [min(1, 0.7 * g / mean) for g in gaps]
    assert expected == pytest.approx([1.0, 0.0, 1.0, 0.0])  # 0.7·2 = 1.4, clipped to 1
    assert aug.replacement_probabilities("the film is good") == pytest.approx(expected)
    # A case without clipping: "a good good cast" — a and cast log 4, good (×2) log 2 · 2/4.
    s = [math.log(4) / 4, 2 * math.log(2) / 4, 2 * math.log(2) / 4, math.log(4) / 4]
    assert s[0] == pytest.approx(s[1])  # all equal: nothing may be replaced
    assert aug.replacement_probabilities("a good good cast") == pytest.approx([0, 0, 0, 0])
    aug.p = 0.3
    # "the plot is": IDF log(4/3), log 4, log(4/3); n = 3
    s = [math.log(4 / 3) / 3, math.log(4) / 3, math.log(4 / 3) / 3]
    gaps = [max(s) - x for x in s]
    expected = [0.3 * g / (sum(gaps) / 3) for g in gaps]
    assert max(expected) < 1
    assert aug.replacement_probabilities("the plot is") == pytest.approx(expected)


def test_probabilities_match_a_plain_python_reference_on_a_random_corpus() -> None:
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(40)]
    weights = 1 / np.arange(1, 41)
    corpus = [" ".join(rng.choice(vocab, size=rng.integers(1, 15), p=weights / weights.sum())) for _ in range(200)]
    aug = TfIdfReplace(p=0.6).fit(corpus)
    idf, _ = reference_stats(corpus)
    for text in corpus[:60]:
        assert aug.replacement_probabilities(text) == pytest.approx(reference_probabilities(word_list(text), idf, 0.6))


def test_the_top_word_is_never_replaced() -> None:
    corpus = ["the film is good", "the film is bad", "the plot is thin", "a superb cast and the film"]
    aug = TfIdfReplace(p=1.0, seed=3).fit(corpus)
    idf, _ = reference_stats(corpus)
    text = "The plot is thin, the film is thin"
    words = word_list(text)
    counts = Counter(words)
    scores = [counts[w] / len(words) * idf.get(w, math.log(len(corpus))) for w in words]
    top = np.flatnonzero(np.isclose(scores, max(scores)))
    assert {words[i] for i in top} == {"thin"}  # twice, in 1 of 4 examples
    probs = aug.replacement_probabilities(text)
    assert (probs[top] == 0).all() and (np.delete(probs, top) > 0).all()
    original = split_words(text)
    changed = np.zeros(len(words))
    for view in aug([text], n=300)[0]:
        changed += [a != b for a, b in zip(split_words(view)[1::2], original[1::2])]
    assert (changed[top] == 0).all()
    assert (np.delete(changed, top) > 0).all()  # every other word was replaced at some point


def test_all_equal_scores_replace_nothing() -> None:
    corpus = ["red green blue", "cyan magenta yellow", "red cyan", "green magenta", "blue yellow"]
    aug = TfIdfReplace(p=1.0, seed=0).fit(corpus)
    # each of these words is in 2 of 5 examples and appears once: every score is log(5/2)/3
    assert np.all(aug.replacement_probabilities("red green blue") == 0)
    assert aug(["red green blue"], n=50)[0] == ["red green blue"] * 50
    assert aug([""]) == [""]


def test_replaced_fraction_matches_its_expectation() -> None:
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(60)]
    weights = 1 / np.arange(1, 61) ** 1.1
    corpus = [" ".join(rng.choice(vocab, size=rng.integers(3, 20), p=weights / weights.sum())) for _ in range(300)]
    aug = TfIdfReplace(p=0.3, seed=11).fit(corpus)
    q = dict(zip(aug.stats.words, aug.q))
    expected = variance = 0.0
    observed = 0
    views = aug(corpus, n=4)
    for text, copies in zip(corpus, views):
        words = word_list(text)
        # a token changes when it is replaced and the drawn word differs from it
        change = aug.replacement_probabilities(text) * (1 - np.array([q[w] for w in words]))
        expected += 4 * change.sum()
        variance += 4 * (change * (1 - change)).sum()
        for view in copies:
            new = word_list(view)
            assert len(new) == len(words)
            observed += sum(a != b for a, b in zip(words, new))
    assert expected > 1000
    assert abs(observed - expected) < 4 * math.sqrt(variance), (observed, expected)


def test_replacement_words_follow_q() -> None:
    corpus = ["alpha beta", "alpha gamma delta", "beta epsilon", "alpha zeta eta theta", "iota beta kappa",
              "alpha alpha lambda", "mu beta alpha"]
    aug = TfIdfReplace(p=1.0, seed=5).fit(corpus)
    tf_idf = dict(zip(aug.stats.words, aug.stats.tf_idf))
    q = {w: (max(tf_idf.values()) - v) for w, v in tf_idf.items()}
    total = sum(q.values())
    assert dict(zip(aug.stats.words, aug.q)) == pytest.approx({w: v / total for w, v in q.items()})
    text = "alpha alpha alpha zeta"  # "alpha" has the lowest score: always replaced (P clipped to 1)
    assert aug.replacement_probabilities(text)[0] == 1.0
    draws = Counter(split_words(view)[1] for view in aug([text], n=3000)[0])
    observed = np.array([draws.get(w, 0) for w in aug.stats.words])
    never = aug.q == 0
    assert observed[never].sum() == 0  # the top-TF-IDF word has q = 0
    expected = 3000 * aug.q[~never]
    statistic = ((observed[~never] - expected) ** 2 / expected).sum()
    assert chi2.sf(statistic, df=(~never).sum() - 1) > 1e-3
    # a uniform draw over the vocabulary would be rejected by the same test
    uniform = np.full((~never).sum(), 3000 / (~never).sum())
    assert chi2.sf(((observed[~never] - uniform) ** 2 / uniform).sum(), df=(~never).sum() - 1) < 1e-3


def test_save_load_round_trip_and_batch_independence(tmp_path) -> None:
    aug = TfIdfReplace(p=0.5, seed=2).fit(CORPUS)
    aug.save(tmp_path / "stats.json")
    loaded = TfIdfReplace(p=0.5, seed=2).load(tmp_path / "stats.json")
    assert loaded.stats.words == aug.stats.words
    assert np.array_equal(loaded.stats.tf_sum, aug.stats.tf_sum)
    texts = CORPUS + ["an unseen word, in the film!", "the film is good"]
    assert loaded(texts, n=3) == aug(texts, n=3)
    assert aug(texts) == [aug([t])[0] for t in texts]
    assert aug.describe()["stats"]["sha256"] == loaded.describe()["stats"]["sha256"]


def test_unseen_words_get_the_idf_of_a_single_example_and_errors_are_clear(tmp_path) -> None:
    aug = TfIdfReplace(p=0.7).fit(CORPUS)
    # "zebra" unseen → IDF log 4 (as if in one example); distinct unseen words count separately
    probs = aug.replacement_probabilities("zebra yak the")
    assert probs[0] == probs[1] == 0 and probs[2] > 0
    with pytest.raises(AugmentError, match="no statistics"):
        TfIdfReplace()(["text"])
    with pytest.raises(AugmentError, match="p must be in"):
        TfIdfReplace(p=1.5)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(AugmentError, match="bad.json"):
        TfIdfReplace().load(tmp_path / "bad.json")

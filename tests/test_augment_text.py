"""Uniform replacement, WordNet synonyms offline, EDA operations and the nlpaug adapter."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from augment import (AugmentError, NlpaugAdapter, RandomDelete, RandomInsert, RandomSwap, Synonym,
                     UniformReplace)
from augment.text import wordnet as wn_module
from augment.text.tokenize import word_list

SENTENCES = ["The actors deliver a strong performance in this quiet film",
             "A clever story with beautiful pictures and a happy ending",
             "The plot moves slowly but the music is wonderful"]


def test_uniform_replaces_each_word_with_probability_p() -> None:
    vocabulary = [f"v{i}" for i in range(50)]
    aug = UniformReplace(p=0.25, vocabulary=vocabulary, seed=0)
    texts = [" ".join(f"w{j}" for j in range(i % 7 + 3)) for i in range(400)]
    views = aug(texts, ids=range(400))
    replaced = total = 0
    for text, view in zip(texts, views):
        old, new = text.split(), view.split()
        assert len(old) == len(new)
        replaced += sum(a != b for a, b in zip(old, new))
        total += len(old)
        assert all(b == a or b in vocabulary for a, b in zip(old, new))
    sd = np.sqrt(total * 0.25 * 0.75)
    assert abs(replaced - 0.25 * total) < 4 * sd
    used = Counter(w for v in views for w in v.split() if w.startswith("v"))
    assert len(used) == 50  # every vocabulary word can be drawn


def test_uniform_leaves_texts_under_three_words_alone() -> None:
    aug = UniformReplace(p=1.0, vocabulary=["zzz"], seed=0)
    assert aug(["one two", "solo", ""]) == ["one two", "solo", ""]
    assert aug(["one two three"]) == ["zzz zzz zzz"]
    fitted = UniformReplace(p=0.5).fit(SENTENCES)
    assert set(fitted.vocabulary) == {w for s in SENTENCES for w in word_list(s)}
    with pytest.raises(AugmentError, match="no vocabulary"):
        UniformReplace()(["a b c"])


def test_offline_wordnet_is_set_up_from_the_debian_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nltk

    monkeypatch.setenv("AUGMENT_CACHE", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nowhere")])
    reader = wn_module.wordnet.__wrapped__()  # the uncached set-up, from scratch
    folder = tmp_path / "nltk_data" / "corpora" / "wordnet"
    assert (folder / "data.noun").is_file() and not (folder / "data.noun").is_symlink()
    lines = (folder / "lexnames").read_text().splitlines()
    assert len(lines) == 45
    assert lines[0].split() == ["00", "adj.all", "3"] and lines[44].split() == ["44", "adj.ppl", "3"]
    assert reader.synset("dog.n.01").lexname() == "noun.animal"
    assert "movie" in {l.name() for s in reader.synsets("film") for l in s.lemmas()}


def test_pos_fallback_uses_the_most_frequent_wordnet_sense() -> None:
    assert wn_module.most_frequent_pos("quickly") == "r"
    assert wn_module.most_frequent_pos("beautiful") == "a"
    assert wn_module.most_frequent_pos("film") == "n"
    assert wn_module.most_frequent_pos("ran") == "v"
    assert wn_module.most_frequent_pos("the") is None


def test_synonym_replaces_words_by_their_wordnet_synonyms() -> None:
    aug = Synonym(p=0.3, seed=0)
    changed = 0
    for original, views in zip(SENTENCES, aug(SENTENCES, n=5)):
        for view in views:
            old, new = original.split(), view.split()
            if len(new) != len(old):  # a multi-word synonym ("motion picture"); compare the rest
                continue
            for a, b in zip(old, new):
                if a != b:
                    changed += 1
                    assert a.lower() not in {"the", "a", "in", "with", "and", "but", "is", "this"}
                    assert b.lower() in {s.lower() for s in wn_module.synonyms(a.lower())}
                    assert a[0].isupper() == b[0].isupper()
    assert changed >= 15
    assert Synonym(p=0.5)(["the and of"]) == ["the and of"]  # nothing to replace


def test_random_insert_adds_synonyms_of_words_in_the_text() -> None:
    text = "a strong performance in a quiet film"
    for view in RandomInsert(p=0.3, seed=1)([text], n=10)[0]:
        new = Counter(view.split()) - Counter(text.split())
        assert sum(new.values()) >= 2  # max(1, int(0.3·7)) = 2 insertions, some may be multi-word
        pool = {w for word in text.split() for s in wn_module.synonyms(word) for w in s.split()}
        assert set(new) <= pool


def test_random_swap_keeps_the_words() -> None:
    views = RandomSwap(p=0.3, seed=0)(SENTENCES, n=4)
    for original, copies in zip(SENTENCES, views):
        for view in copies:
            assert sorted(view.split()) == sorted(original.split())
        assert any(view != original for view in copies)
    assert RandomSwap()(["alone"]) == ["alone"]


def test_random_delete_drops_words_with_probability_p_and_keeps_one() -> None:
    text = " ".join(f"w{i}" for i in range(20))
    views = RandomDelete(p=0.4, seed=0)([text], n=200)[0]
    kept = sum(len(v.split()) for v in views) / (200 * 20)
    assert abs(kept - 0.6) < 0.03
    assert all(len(v.split()) == 1 for v in RandomDelete(p=1.0)([text], n=5)[0])
    assert RandomDelete(p=1.0)(["single"]) == ["single"]


def test_nlpaug_adapter_is_reproducible_and_leaves_global_state_alone() -> None:
    import nlpaug.augmenter.word as naw

    aug = NlpaugAdapter(naw.RandomWordAug(action="swap", aug_p=0.5), seed=3)
    random.seed(123)
    np.random.seed(123)
    expected_py, expected_np = random.random(), np.random.random()
    random.seed(123)
    np.random.seed(123)
    first = aug(SENTENCES, n=3)
    assert (random.random(), np.random.random()) == (expected_py, expected_np)
    assert aug(SENTENCES, n=3) == first
    assert aug(SENTENCES[::-1], n=3)[::-1] == first  # independent of batching
    assert any(v != s for s, copies in zip(SENTENCES, first) for v in copies)
    assert NlpaugAdapter(naw.RandomWordAug(action="swap", aug_p=0.5), seed=4)(SENTENCES, n=3) != first
    assert aug.describe()["class"] == "nlpaug.augmenter.word.random.RandomWordAug"
    with pytest.raises(TypeError, match="augment"):
        NlpaugAdapter(object())

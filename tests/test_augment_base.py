"""The augmenter interface: seeding, copies, batch independence, composition, provenance."""

from __future__ import annotations

import numpy as np
import pytest

from augment import AugmentError, Augmenter, OneOf, RandomDelete, RandomSwap, Sequential, Sometimes
from augment.base import text_keys, uniforms

TEXTS = ["one two three four five six", "a b c d e f g h", "the quick brown fox jumps", "lone"]


class Tag(Augmenter):
    """Appends its tag and a random digit: shows which child ran and with which randomness."""

    def __init__(self, tag: str, seed: int = 0) -> None:
        self.name, self.tag, self.seed = f"tag_{tag}", tag, seed

    def augment_one(self, text: str, rng: np.random.Generator) -> str:
        return f"{text} {self.tag}{rng.integers(10)}"


def test_same_seed_same_views_other_seed_other_views() -> None:
    assert RandomSwap(p=0.5, seed=1)(TEXTS) == RandomSwap(p=0.5, seed=1)(TEXTS)
    views = [tuple(RandomSwap(p=0.5, seed=s)(TEXTS[:3])) for s in range(5)]
    assert len(set(views)) > 1


def test_copies_shape_and_copy_zero_is_the_plain_call() -> None:
    aug = RandomSwap(p=0.5, seed=4)
    views = aug(TEXTS, n=3)
    assert len(views) == len(TEXTS) and all(len(v) == 3 for v in views)
    assert [v[0] for v in views] == aug(TEXTS)
    assert len(set(views[1])) > 1  # copies differ from each other
    with pytest.raises(AugmentError, match="positive integer"):
        aug(TEXTS, n=0)


def test_views_do_not_depend_on_batching_or_position() -> None:
    aug = Sequential(RandomSwap(p=0.5), RandomDelete(p=0.3), seed=9)
    together = aug(TEXTS, n=2)
    alone = [aug([t], n=2)[0] for t in TEXTS]
    reversed_batch = aug(TEXTS[::-1], n=2)[::-1]
    assert together == alone == reversed_batch


def test_ids_separate_duplicate_texts() -> None:
    aug = Tag("x", seed=0)
    same = aug(["dup"] * 20)
    assert len(set(same)) == 1  # identity = the text itself
    by_id = aug(["dup"] * 20, ids=list(range(20)))
    assert len(set(by_id)) > 1
    assert aug(["dup"], ids=[7]) == [by_id[7]] == aug(["dup"], ids=np.array([7]))
    with pytest.raises(AugmentError, match="ids"):
        aug(["a", "b"], ids=[1])


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(AugmentError, match="list of texts"):
        RandomSwap()("a single string")
    with pytest.raises(AugmentError, match="text 1 is int"):
        RandomSwap()(["ok", 3])
    with pytest.raises(AugmentError, match="weights"):
        OneOf([RandomSwap()], weights=[-1])


def test_uniforms_are_uniform_and_reproducible() -> None:
    keys = text_keys([str(i) for i in range(2000)], seed=0)
    u = uniforms(keys[:, None], np.arange(10)[None, :], stream=3)
    assert u.shape == (2000, 10) and (u >= 0).all() and (u < 1).all()
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert np.array_equal(u, uniforms(keys[:, None], np.arange(10)[None, :], stream=3))
    assert not np.array_equal(u, uniforms(keys[:, None], np.arange(10)[None, :], stream=4))


def test_sequential_applies_every_child_in_order() -> None:
    out = Sequential(Tag("a"), Tag("b"), seed=0)(["x"] * 3, ids=[0, 1, 2])
    for text in out:
        words = text.split()
        assert words[0] == "x" and words[1][0] == "a" and words[2][0] == "b"


def test_one_of_follows_its_weights() -> None:
    aug = OneOf([Tag("a"), Tag("b")], weights=[3, 1], seed=2)
    out = aug(["x"] * 4000, ids=list(range(4000)))
    share_a = sum(t.split()[1][0] == "a" for t in out) / len(out)
    assert abs(share_a - 0.75) < 0.03
    assert all(len(t.split()) == 2 for t in out)  # exactly one child per text


def test_sometimes_applies_with_probability_p() -> None:
    out = Sometimes(Tag("a"), p=0.3, seed=1)(["x"] * 4000, ids=list(range(4000)))
    assert abs(sum(t != "x" for t in out) / len(out) - 0.3) < 0.03
    assert Sometimes(Tag("a"), p=0.0)(["x"] * 5, ids=range(5)) == ["x"] * 5
    assert all(t != "x" for t in Sometimes(Tag("a"), p=1.0)(["x"] * 5, ids=range(5)))
    with pytest.raises(AugmentError, match="p must be in"):
        Sometimes(Tag("a"), p=2)


def test_describe_gives_nested_provenance() -> None:
    aug = Sequential(RandomSwap(p=0.2), Sometimes(RandomDelete(p=0.1), p=0.5), seed=7)
    info = aug.describe()
    assert info["op"] == "sequential" and info["seed"] == 7
    assert info["augmenters"][0] == {"op": "swap", "seed": 0, "p": 0.2}
    assert info["augmenters"][1]["augmenter"]["op"] == "delete"

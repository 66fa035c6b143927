"""Ops by name: an op's file registers its class, and then specs build it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from augment.base import Augmenter
from augment.ops import build, parameters
from augment.registry import ALIASES, OPS, register_op


@pytest.fixture
def tables() -> Iterator[None]:
    """Put the op tables back as they were, so a throwaway op does not leak into other tests."""
    ops, aliases = dict(OPS), dict(ALIASES)
    yield
    OPS.clear()
    OPS.update(ops)
    ALIASES.clear()
    ALIASES.update(aliases)


def test_a_registered_op_is_built_by_name_or_alias(tables: None) -> None:
    @register_op("shout", aliases=("yell",))
    class Shout(Augmenter):
        name = "shout"

        def __init__(self, times: int = 1, seed: int = 0) -> None:
            self.times, self.seed = times, seed

        def augment_one(self, text: str, rng: np.random.Generator) -> str:
            return text.upper() + "!" * self.times

    assert parameters("shout") == {"times": 1}
    assert build(["shout:times=2"])(["hi"]) == ["HI!!"]
    assert build(["yell"])(["hi"]) == ["HI!"]


@pytest.mark.parametrize(("name", "aliases"), [("tfidf", ()), ("bt", ()), ("loud", ("unif",))])
def test_a_taken_name_or_alias_raises(tables: None, name: str, aliases: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="already taken"):
        register_op(name, aliases=aliases)(Augmenter)
    assert "loud" not in OPS

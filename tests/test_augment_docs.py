"""The examples in augment's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["augment", "augment.base", "augment.ops", "augment.image", "augment.text.tfidf", "augment.text.uniform",
           "augment.text.eda", "augment.text.tokenize", "augment.text.nlpaug_adapter", "augment.text.wordnet",
           "augment.text.backtranslation", "augment.text.translators"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

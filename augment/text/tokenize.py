"""Word and sentence splitting shared by the text augmenters (no downloads needed).

Words follow BERT's BasicTokenizer, the pre-WordPiece tokenizer UDA uses: runs of
letters/digits are words, every punctuation character is its own word, CJK characters
stand alone, and the normalised form is lower-cased with accents stripped. ``split_words``
keeps the gaps between words, so an augmenter can change some words and leave the rest
of the text (case, spacing) exactly as it was.

>>> from augment.text.tokenize import word_list, split_sentences
>>> word_list("Don't panic, Zoë!")
['don', "'", 't', 'panic', ',', 'zoe', '!']
>>> split_sentences("It starts well. Then Dr. Hyde arrives... and it sags! The end?")
['It starts well.', 'Then Dr. Hyde arrives... and it sags!', 'The end?']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ebef\U0002f800-\U0002fa1f"
# A word: letters/digits/combining marks (no underscore, no CJK); else one non-space char.
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+|\S")


_SPLIT = re.compile(f"({_TOKEN.pattern})")


def normalise(token: str) -> str:
    """Lower-case and strip accents: the form that statistics are keyed by."""
    token = token.lower()
    if token.isascii():
        return token
    return "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")


def split_words(text: str) -> list[str]:
    """``[gap, word, gap, word, ..., gap]``: ``"".join`` of it gives ``text`` back."""
    return _SPLIT.split(text)


def norms(text: str, parts: list[str]) -> list[str]:
    """The normalised words of ``text`` split as ``parts``."""
    if text.isascii():  # lower() keeps ASCII word boundaries, so one split of the lowered text will do
        return _TOKEN.findall(text.lower())
    return [normalise(t) for t in parts[1::2]]


def word_list(text: str) -> list[str]:
    """The normalised basic-tokenizer words of ``text``."""
    if text.isascii():
        return _TOKEN.findall(text.lower())
    return [normalise(t) for t in _TOKEN.findall(text)]


def replace_words(parts: list[str], replacements: dict[int, str]) -> str:
    """The text of ``parts`` (from ``split_words``) with word ``i`` replaced by ``replacements[i]``.

    A replacement glued to a neighbouring word (as in "don't") gets a space on that side,
    so that the result splits into the same number of words as the original.
    """
    parts = list(parts)
    count = len(parts) // 2
    for i, new in replacements.items():
        if i > 0 and parts[2 * i] == "":
            new = " " + new
        if i + 1 < count and parts[2 * i + 2] == "" and i + 1 not in replacements:
            new = new + " "  # (a replaced neighbour adds its own leading space)
        parts[2 * i + 1] = new
    return "".join(parts)


# Abbreviations whose period does not end a sentence (lower-cased, without the period).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf fig no vol mt ft jan feb mar apr jun jul aug sep sept oct "
    "nov dec inc ltd co corp u.s u.k a.m p.m approx dept est gen gov lt col sgt capt rev".split())
_BOUNDARY = re.compile(r"""([.!?…]+["'”’)\]]*)\s+(?=["'“‘(\[]?[A-Z0-9])""")


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences with a rule-based splitter.

    Breaks after ``.``, ``!``, ``?`` or ``…`` (plus closing quotes/brackets) when
    whitespace and an upper-case letter or digit follow, except after common
    abbreviations and single initials; line breaks always end a sentence.
    nltk's punkt model would need a download, which is not possible offline.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _BOUNDARY.finditer(line):
            end = match.end(1)
            if match.group(1).startswith(".") and len(match.group(1).rstrip("\"'”’)]")) == 1:
                before = line[start:match.start(1)].split()
                last = before[-1].lower().lstrip("\"'“‘([") if before else ""
                if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                    continue
            sentences.append(line[start:end].strip())
            start = match.end()
        sentences.append(line[start:].strip())
    return [s for s in sentences if s]


def replace_in_texts(texts: list[str], parts: list[list[str]], docs: Iterable[int], positions: Iterable[int],
                     words: Iterable[str]) -> list[str]:
    """``texts`` with word ``positions[j]`` of text ``docs[j]`` replaced by ``words[j]``;
    ``parts`` are the texts' ``split_words``. Texts without a replacement are returned as they are."""
    changes: dict[int, dict[int, str]] = {}
    for doc, position, word in zip(docs, positions, words):
        changes.setdefault(doc, {})[position] = word
    out = list(texts)
    for doc, replacements in changes.items():
        out[doc] = replace_words(parts[doc], replacements)
    return out

"""Offline WordNet for nltk, from the Debian ``wordnet-base`` files, and a POS fallback.

nltk's WordNet reader wants the dictionary files inside ``<dir>/corpora/wordnet`` as real
files (it rejects symlinks into /usr/share) and a ``lexnames`` file that Debian does not
ship. ``wordnet()`` copies the files once into ``$AUGMENT_CACHE/nltk_data`` (default
``~/.cache/augment``), writes the standard 45-line ``lexnames``, and puts the folder on
``nltk.data.path``. An nltk WordNet that is already installed is used as it is.

>>> from augment.text.wordnet import wordnet
>>> sorted({l.name() for s in wordnet().synsets("film", pos="n") for l in s.lemmas()})[:3]
['celluloid', 'cinema', 'film']
"""

from __future__ import annotations

import os
import shutil
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from augment.atomic import written_whole
from augment.errors import AugmentError

WORDNET_SOURCES = (Path("/usr/share/wordnet"), Path("/usr/share/wordnet/dict"))

# The standard WordNet 3.0 lexicographer files: number, name, syntactic category.
LEXNAMES = """adj.all 3
adj.pert 3
adv.all 4
noun.Tops 1
noun.act 1
noun.animal 1
noun.artifact 1
noun.attribute 1
noun.body 1
noun.cognition 1
noun.communication 1
noun.event 1
noun.feeling 1
noun.food 1
noun.group 1
noun.location 1
noun.motive 1
noun.object 1
noun.person 1
noun.phenomenon 1
noun.plant 1
noun.possession 1
noun.process 1
noun.quantity 1
noun.relation 1
noun.shape 1
noun.state 1
noun.substance 1
noun.time 1
verb.body 2
verb.change 2
verb.cognition 2
verb.communication 2
verb.competition 2
verb.consumption 2
verb.contact 2
verb.creation 2
verb.emotion 2
verb.motion 2
verb.perception 2
verb.possession 2
verb.social 2
verb.stative 2
verb.weather 2
adj.ppl 3"""

_lock = threading.Lock()


def cache_dir() -> Path:
    return Path(os.environ.get("AUGMENT_CACHE", Path.home() / ".cache" / "augment"))


def _source() -> Path:
    for folder in WORDNET_SOURCES:
        if (folder / "data.noun").is_file():
            return folder
    raise AugmentError("synonym: WordNet not found; install the Debian package wordnet-base "
                       "or run nltk.download('wordnet')")


def prepare_nltk_data(root: Path | None = None) -> Path:
    """Copy the Debian WordNet into ``<root>/corpora/wordnet`` (once) and return ``root``."""
    root = root or cache_dir() / "nltk_data"
    target = root / "corpora" / "wordnet"
    if (target / "lexnames").is_file():
        return root
    source = _source()
    lines = [f"{i:02d}\t{name}\t{cat}" for i, (name, cat) in enumerate(l.split() for l in LEXNAMES.splitlines())]
    try:
        with written_whole(target) as partial:
            partial.mkdir(parents=True)
            for path in source.iterdir():
                if path.is_file():
                    shutil.copyfile(path, partial / path.name)  # follows links: nltk needs real files
            (partial / "lexnames").write_text("\n".join(lines) + "\n")
    except OSError:
        if not (target / "lexnames").is_file():  # else another process finished first
            raise
    return root


@lru_cache(maxsize=1)
def wordnet() -> Any:
    """nltk's WordNet corpus reader, working offline."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    with _lock:
        try:
            nltk.data.find("corpora/wordnet")
            from nltk.corpus import wordnet as wn
            wn.ensure_loaded()
            return wn
        except (LookupError, OSError):
            pass
        root = prepare_nltk_data()
        if str(root) not in nltk.data.path:
            nltk.data.path.insert(0, str(root))
        with warnings.catch_warnings():  # "multilingual functions are not available": no OMW offline
            warnings.simplefilter("ignore", UserWarning)
            return WordNetCorpusReader(str(root / "corpora" / "wordnet"), None)


_TAG_TO_WORDNET = {"N": "n", "V": "v", "J": "a", "R": "r"}


@lru_cache(maxsize=1)
def _perceptron_tagger() -> Any | None:
    try:
        import nltk
        nltk.pos_tag(["test"])
        return nltk.pos_tag
    except (LookupError, OSError, ImportError):
        return None


def pos_tags(tokens: list[str]) -> list[str | None]:
    """WordNet POS ('n', 'v', 'a', 'r') per token, or None for other words.

    Uses nltk's averaged perceptron tagger when its model is installed. Otherwise (it is a
    run-time download) each word gets its most frequent WordNet POS, by the SemCor sense
    counts in ``cntlist`` (a unigram tagger; ties: noun, verb, adjective, adverb).
    """
    tagger = _perceptron_tagger()
    if tagger is not None:
        return [_TAG_TO_WORDNET.get(tag[:1]) for _, tag in tagger(tokens)]
    return [most_frequent_pos(t.lower()) for t in tokens]


@lru_cache(maxsize=65536)
def most_frequent_pos(word: str) -> str | None:
    wn = wordnet()
    counts: dict[str, int] = {}
    bases = {word} | {wn.morphy(word, p) for p in "nvar"} - {None}
    for synset in wn.synsets(word):
        pos = "a" if synset.pos() == "s" else synset.pos()
        for lemma in synset.lemmas():
            if lemma.name().lower() in bases:
                counts[pos] = counts.get(pos, 0) + lemma.count() + 1  # +1: unseen senses still count
    if not counts:
        return None
    return max("nvar", key=lambda p: (counts.get(p, -1), -"nvar".index(p)))


@lru_cache(maxsize=65536)
def synonyms(word: str, pos: str | None = None) -> tuple[str, ...]:
    """WordNet synonyms of ``word`` (other lemmas of its synsets), in a fixed order."""
    if pos == "a":
        synsets = wordnet().synsets(word, pos="a") + wordnet().synsets(word, pos="s")
    else:
        synsets = wordnet().synsets(word, pos=pos)
    found: dict[str, None] = {}
    for synset in synsets:
        for lemma in synset.lemmas():
            name = lemma.name().replace("_", " ")
            if name.lower() != word.lower():
                found.setdefault(name, None)
    return tuple(found)

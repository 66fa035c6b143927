"""Text augmenters: TF-IDF and uniform word replacement, back-translation, synonyms, EDA ops.

Importing this package imports every module in it, so an op's file, registered with
``@register_op``, is found without a hand-kept list. The public imports below run first and
in this order because registration order is the order ``augment --list-ops`` and error
messages name the ops in; a new op's file comes after them.
"""

import importlib
import pkgutil

from augment.text.tfidf import TfIdfReplace, TfIdfStats
from augment.text.uniform import UniformReplace
from augment.text.backtranslation import BackTranslation, length_check
from augment.text.eda import RandomDelete, RandomInsert, RandomSwap, Synonym
from augment.text.nlpaug_adapter import NlpaugAdapter
from augment.text.tokenize import split_sentences
from augment.text.translators import ApertiumTranslator, Seq2SeqTranslator

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ApertiumTranslator", "BackTranslation", "NlpaugAdapter", "RandomDelete", "RandomInsert", "RandomSwap",
           "Seq2SeqTranslator", "Synonym", "TfIdfReplace", "TfIdfStats", "UniformReplace", "length_check",
           "split_sentences"]

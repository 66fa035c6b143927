"""Text augmenters: TF-IDF and uniform word replacement, back-translation, synonyms, EDA ops."""

from augment.text.backtranslation import BackTranslation, length_check
from augment.text.eda import RandomDelete, RandomInsert, RandomSwap, Synonym
from augment.text.nlpaug_adapter import NlpaugAdapter
from augment.text.tfidf import TfIdfReplace, TfIdfStats
from augment.text.tokenize import split_sentences
from augment.text.translators import ApertiumTranslator, Seq2SeqTranslator
from augment.text.uniform import UniformReplace

__all__ = ["ApertiumTranslator", "BackTranslation", "NlpaugAdapter", "RandomDelete", "RandomInsert", "RandomSwap",
           "Seq2SeqTranslator", "Synonym", "TfIdfReplace", "TfIdfStats", "UniformReplace", "length_check",
           "split_sentences"]

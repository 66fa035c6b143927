"""Back-translation: sentence splitting, UDA's length filter, Apertium, and the seq2seq
backend on a tiny randomly initialised Marian model."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from augment import AugmentError, BackTranslation
from augment.text.backtranslation import length_check
from augment.text.tokenize import split_sentences
from augment.text.translators import ApertiumTranslator, Seq2SeqTranslator

needs_apertium = pytest.mark.skipif(shutil.which("apertium") is None, reason="apertium is not installed")


class Recorder:
    """A translator that upper-cases sentences (or rewrites them from a table) and records calls."""

    deterministic = True

    def __init__(self, table: dict[str, str] | None = None) -> None:
        self.table, self.calls = table or {}, []

    def round_trip(self, sentences: list[str], seed: int) -> list[str]:
        self.calls.append(list(sentences))
        return [self.table.get(s, s.upper()) for s in sentences]

    def params(self) -> dict[str, Any]:
        return {"backend": "recorder"}


@pytest.mark.parametrize("text, expected", [
    ("One. Two!  Three? Four", ["One.", "Two!", "Three?", "Four"]),
    ("Mr. Smith met Dr. Jones at 5 p.m. on Friday. They talked.",
     ["Mr. Smith met Dr. Jones at 5 p.m. on Friday.", "They talked."]),
    ('He said "Stop." Then he left... and came back.', ['He said "Stop."', "Then he left... and came back."]),
    ("It costs 3.50 dollars. J. R. R. Tolkien wrote it.", ["It costs 3.50 dollars.", "J. R. R. Tolkien wrote it."]),
    ("first line\nsecond line", ["first line", "second line"]),
    ("", []),
])
def test_sentence_splitting(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_length_filter_is_udas() -> None:
    long = "a" * 20
    assert length_check(long, "b" * 20) == "b" * 20
    assert length_check("short", "a much longer new text") == "short"  # original < 10 chars
    assert length_check(long, "tiny") == long  # new < 10 chars
    assert length_check(long, "b" * 30) == "b" * 30  # +50% exactly is kept
    assert length_check(long, "b" * 31) == long  # > 50% longer
    assert length_check(long, "b" * 10) == "b" * 10  # −50% exactly is kept
    assert length_check("a" * 21, "b" * 10) == "a" * 21  # > 50% shorter


def test_sentences_are_translated_one_by_one_and_joined() -> None:
    table = {"It was long.": "It was lengthy.", "Too long.": "This sentence grew a great deal longer."}
    recorder = Recorder(table)
    bt = BackTranslation(backend=recorder, seed=0)
    texts = ["It was long. But the actors are good!", "Too long.", "Fine", "It was long. It was long."]
    out = bt(texts)
    assert out[0] == "It was lengthy. BUT THE ACTORS ARE GOOD!"
    assert out[1] == "Too long."  # the round trip changed the length by more than 50%
    assert out[2] == "Fine"  # shorter than 10 characters
    assert out[3] == "It was lengthy. It was lengthy."
    # one call for the batch; a deterministic engine sees each distinct sentence once
    assert len(recorder.calls) == 1
    assert sorted(recorder.calls[0]) == sorted({"It was long.", "But the actors are good!", "Too long.", "Fine"})
    unsplit = BackTranslation(backend=Recorder(), split=False)
    assert unsplit(["One thing. Two things."]) == ["ONE THING. TWO THINGS."]
    assert bt.describe()["backend"] == "recorder"


@needs_apertium
def test_apertium_round_trip_keeps_sentences_one_for_one() -> None:
    translator = ApertiumTranslator(batch_size=4)
    sentences = ["The movie was great, but too long.", "I did not like it at all!", "A [bracketed] \\ odd ^line$",
                 "Line with\nan inner break.", "", "The end."]
    out = translator.round_trip(sentences)
    assert len(out) == len(sentences) and all("\n" not in s for s in out)
    assert out[4] == ""
    assert sum(a != b for a, b in zip(sentences, out)) >= 2
    assert out[5].rstrip(".").lower() in ("the end", "the finish", "the final")
    assert out == translator.round_trip(sentences)  # rule-based: deterministic


@needs_apertium
def test_apertium_batches_are_split_when_lines_do_not_map_back(monkeypatch: pytest.MonkeyPatch) -> None:
    translator = ApertiumTranslator()
    real = translator._pipe

    def flaky(lines: list[str]) -> list[str]:
        out = real(lines)
        return out[:-1] if len(lines) > 2 else out  # lose a line in big batches

    monkeypatch.setattr(translator, "_pipe", flaky)
    sentences = [f"This is sentence number {i}." for i in range(7)]
    out = translator.round_trip(sentences)
    assert len(out) == 7 and all(str(i) in s for i, s in enumerate(out))


@needs_apertium
def test_apertium_back_translation_of_paragraphs() -> None:
    bt = BackTranslation(backend="apertium", seed=0)
    texts = ["The film is a gentle story about loss. The actors are wonderful.", "Bad.",
             "I would not recommend this movie to anybody who likes good films."]
    out = bt(texts, n=2)
    assert out[1] == ["Bad.", "Bad."]
    assert out[0][0] != texts[0] and out[0][0].count(".") == 2
    assert out[2][0] != texts[2]


def test_missing_apertium_or_pair_is_a_clear_error() -> None:
    with pytest.raises(AugmentError, match="not installed"):
        ApertiumTranslator(executable="no-such-apertium-binary")
    if shutil.which("apertium"):
        with pytest.raises(AugmentError, match="language pair eng-xx"):
            ApertiumTranslator(pivot="xx")
    with pytest.raises(AugmentError, match="unknown backend"):
        BackTranslation(backend="carrier-pigeon")


@pytest.fixture(scope="module")
def tiny_marian() -> tuple[Any, Any]:
    """A randomly initialised 1-layer, 16-wide Marian model and a word-level fast tokenizer
    (MarianTokenizer needs sentencepiece files, which are not available offline)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    words = "the film is good bad long short a story about loss and love it was very . ,".split()
    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>")
    torch.manual_seed(0)
    config = MarianConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                          decoder_ffn_dim=32, max_position_embeddings=64, pad_token_id=0, eos_token_id=1,
                          decoder_start_token_id=0, forced_eos_token_id=1)
    return MarianMTModel(config), tokenizer


SENTENCES = ["the film is good .", "a story about loss and love .", "it was very long", "bad"]


def test_seq2seq_backend_samples_reproducibly_with_a_tiny_marian(tiny_marian: tuple[Any, Any]) -> None:
    translator = Seq2SeqTranslator(tiny_marian, tiny_marian, temperature=0.9, batch_size=3, max_length=12)
    first = translator.round_trip(SENTENCES, seed=0)
    assert len(first) == len(SENTENCES) and all(isinstance(s, str) for s in first)
    assert translator.round_trip(SENTENCES, seed=0) == first
    assert translator.round_trip(SENTENCES, seed=1) != first  # sampling, not greedy decoding
    bt = BackTranslation(backend=translator, min_length=0, max_length_change=10.0, seed=0)
    views = bt(["the film is good . it was very long"], n=3)[0]
    assert len(set(views)) > 1  # copies get different samples


def test_seq2seq_backend_batches_by_length_and_maps_results_back(tiny_marian: tuple[Any, Any]) -> None:
    model, tokenizer = tiny_marian
    calls: list[dict[str, Any]] = []

    class Echo:
        """Wraps the model: generate() returns its input, so the output order is visible."""

        def to(self, device: Any) -> "Echo":
            return self

        def eval(self) -> "Echo":
            return self

        def generate(self, input_ids: Any, attention_mask: Any, **kwargs: Any) -> Any:
            calls.append({"rows": input_ids.shape[0], "width": input_ids.shape[1], **kwargs})
            return input_ids

    translator = Seq2SeqTranslator((Echo(), tokenizer), (Echo(), tokenizer), temperature=0.8, batch_size=2)
    out = translator.translate(SENTENCES, "forward", seed=0)
    assert out == SENTENCES
    assert [c["rows"] for c in calls] == [2, 2]
    assert calls[0]["width"] < calls[1]["width"]  # the two short sentences went together
    assert all(c["do_sample"] and c["temperature"] == 0.8 and c["num_beams"] == 1 and c["top_k"] == 0
               for c in calls)


def test_seq2seq_backend_reports_unloadable_models() -> None:
    translator = Seq2SeqTranslator("/no/such/model-folder", "/no/such/model-folder")
    with pytest.raises(AugmentError, match="cannot load model"):
        translator.round_trip(["some sentence"])

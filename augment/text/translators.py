"""Round-trip translation engines for back-translation: Apertium (rule-based, offline)
and any transformers seq2seq pair (MarianMT by default), sampled with a temperature.

A translator maps a list of sentences to their round trips, one for one:
``translator.round_trip(sentences, seed) -> list[str]``.

>>> from augment.text.translators import ApertiumTranslator
>>> ApertiumTranslator().round_trip(["The film is good."], seed=0)  # doctest: +SKIP
['The film is good.']
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from augment.errors import AugmentError

_NEWLINES = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x1c-\x1e\x85]+")


class Translator(Protocol):
    deterministic: bool
    """True when the same sentence always gives the same round trip (then it is sent once)."""

    def round_trip(self, sentences: list[str], seed: int) -> list[str]: ...

    def params(self) -> dict[str, Any]: ...


@lru_cache(maxsize=8)
def _apertium_pairs(executable: str) -> frozenset[str]:
    result = subprocess.run([executable, "-l"], capture_output=True, text=True, timeout=60)
    return frozenset(result.stdout.split())


class ApertiumTranslator:
    """``apertium -u SRC-PIVOT | apertium -u PIVOT-SRC`` as one pipe, many sentences a call.

    Sentences go one per line (line breaks inside a sentence become spaces); the output is
    checked to have exactly one line per sentence, and a batch that does not is split in
    halves until it does, so sentences always map back one for one.
    """

    deterministic = True

    def __init__(self, pivot: str = "spa", source: str = "eng", batch_size: int = 2000,
                 executable: str = "apertium") -> None:
        self.pivot, self.source, self.batch_size = pivot, source, batch_size
        path = shutil.which(executable)
        if path is None:
            raise AugmentError(f"apertium: '{executable}' is not installed "
                               f"(Debian/Ubuntu: apt-get install apertium apertium-{source}-{pivot})")
        self.executable = path
        pairs = _apertium_pairs(path)
        for pair in (f"{source}-{pivot}", f"{pivot}-{source}"):
            if pair not in pairs:
                raise AugmentError(f"apertium: language pair {pair} is not installed "
                                   f"(installed: {', '.join(sorted(pairs)) or 'none'}); "
                                   f"try apt-get install apertium-{source}-{pivot}")

    def round_trip(self, sentences: list[str], seed: int = 0) -> list[str]:
        lines = [_NEWLINES.sub(" ", s).strip() for s in sentences]
        out: list[str] = []
        for start in range(0, len(lines), self.batch_size):
            out += self._safe_batch(lines[start:start + self.batch_size])
        return out

    def _safe_batch(self, lines: list[str]) -> list[str]:
        result = self._pipe(lines)
        if len(result) == len(lines):
            return result
        if len(lines) == 1:
            return [" ".join(result).strip()]
        half = len(lines) // 2
        return self._safe_batch(lines[:half]) + self._safe_batch(lines[half:])

    def _pipe(self, lines: list[str]) -> list[str]:
        if not lines:
            return []
        forward = [self.executable, "-u", f"{self.source}-{self.pivot}"]
        backward = [self.executable, "-u", f"{self.pivot}-{self.source}"]
        first = subprocess.Popen(forward, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        second = subprocess.Popen(backward, stdin=first.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first.stdout.close()  # type: ignore[union-attr]  # the second process owns it now

        def feed() -> None:
            try:
                first.stdin.write(("\n".join(lines) + "\n").encode())  # type: ignore[union-attr]
            finally:
                first.stdin.close()  # type: ignore[union-attr]

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        stdout, stderr = second.communicate()
        writer.join()
        first_err = first.stderr.read() if first.stderr else b""  # type: ignore[union-attr]
        first.wait()
        if first.returncode or second.returncode:
            message = (first_err or stderr).decode(errors="replace").strip().splitlines()
            raise AugmentError(f"apertium: failed with exit code {first.returncode or second.returncode}: "
                               f"{message[0] if message else 'no message'}")
        text = stdout.decode("utf-8", errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
        return [" ".join(line.split()) for line in text.split("\n")]

    def params(self) -> dict[str, Any]:
        return {"backend": "apertium", "pivot": self.pivot, "source": self.source}


class Seq2SeqTranslator:
    """Back-translation with two transformers seq2seq models (``forward``: source → pivot,
    ``backward``: pivot → source), sampled as in UDA: ``do_sample=True``, ``temperature``,
    ``num_beams=1``, from the full distribution (``top_k=0``).

    ``forward``/``backward`` are Hub ids or local folders, or ``(model, tokenizer)`` pairs.
    Sentences are sorted by length and batched so padding stays small; the model runs on
    the GPU when there is one. Sampling is seeded per batch from ``seed``, so results are
    reproducible for the same inputs and batch size.
    """

    deterministic = False

    def __init__(self, forward: str | tuple[Any, Any] = "Helsinki-NLP/opus-mt-en-de",
                 backward: str | tuple[Any, Any] = "Helsinki-NLP/opus-mt-de-en", temperature: float = 0.9,
                 batch_size: int = 32, max_length: int = 256, device: str | None = None) -> None:
        if not temperature > 0:
            raise AugmentError(f"backtranslation: temperature must be > 0, got {temperature!r}")
        self.temperature, self.batch_size, self.max_length = float(temperature), int(batch_size), int(max_length)
        self._specs = {"forward": forward, "backward": backward}
        self._loaded: dict[str, tuple[Any, Any]] = {}
        self._device = device

    @property
    def device(self) -> Any:
        import torch
        return torch.device(self._device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def _model(self, which: str) -> tuple[Any, Any]:
        if which not in self._loaded:
            spec = self._specs[which]
            if isinstance(spec, str):
                from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
                try:
                    tokenizer = AutoTokenizer.from_pretrained(spec, trust_remote_code=False)
                    model = AutoModelForSeq2SeqLM.from_pretrained(spec, trust_remote_code=False)
                except (OSError, ValueError) as error:
                    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    raise AugmentError(f"backtranslation: cannot load model {spec!r} ({first}); "
                                       "offline, use backend='apertium'") from None
            else:
                model, tokenizer = spec
            self._loaded[which] = (model.to(self.device).eval(), tokenizer)
        return self._loaded[which]

    def translate(self, sentences: Sequence[str], which: str, seed: int) -> list[str]:
        import torch

        model, tokenizer = self._model(which)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out: list[str] = [""] * len(sentences)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        for b, start in enumerate(range(0, len(order), self.batch_size)):
            rows = order[start:start + self.batch_size]
            batch = tokenizer([sentences[i] for i in rows], return_tensors="pt", padding=True,
                              truncation=True, max_length=self.max_length).to(self.device)
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                torch.manual_seed((seed + 1_000_003 * b) & 0xFFFFFFFFFFFF)
                generated = model.generate(**batch, do_sample=True, temperature=self.temperature, top_k=0,
                                           top_p=1.0, num_beams=1, max_new_tokens=self.max_length)
            for i, text in zip(rows, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                out[i] = text.strip()
        return out

    def round_trip(self, sentences: list[str], seed: int = 0) -> list[str]:
        pivot = self.translate(sentences, "forward", seed)
        return self.translate(pivot, "backward", seed + 1)

    def params(self) -> dict[str, Any]:
        names = {k: v if isinstance(v, str) else type(v[0]).__name__ for k, v in self._specs.items()}
        return {"backend": "seq2seq", **names, "temperature": self.temperature, "batch_size": self.batch_size}

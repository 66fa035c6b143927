from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from accelerate.state import AcceleratorState  # noqa: E402
from transformers import AutoConfig, AutoTokenizer, BertModel  # noqa: E402

from textssl.algorithms import ALGORITHMS, SemiSupervised  # noqa: E402
from textssl.config import Config  # noqa: E402
from textssl.recipe import load_config  # noqa: E402
from textssl.run import run  # noqa: E402
from textssl.models.hf import resolve_model_path  # noqa: E402

POSITIVE = "good great wonderful superb lovely moving brilliant".split()
NEGATIVE = "bad awful boring dull terrible tedious clumsy".split()
FILLER = "the film movie plot story acting cast was is a an this".split()

# Every method that learns from unlabelled data on its own, for the tests that go through each of
# them; a method taught by a trained model (`algorithm.teacher`) has tests of its own.
SEMI_SUPERVISED = sorted(name for name, cls in ALGORITHMS.items()
                         if issubclass(cls, SemiSupervised) and not hasattr(cls.Config, "teacher"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A torchrun pair is slow too: `pytest -m "not slow"` skips it."""
    for item in items:
        if item.get_closest_marker("multiprocess"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["TEXTSSL_CACHE"] = str(tmp_path_factory.mktemp("textssl-cache"))


@pytest.fixture(autouse=True)
def _fresh_accelerator_state():
    """Each test picks its own precision: reset accelerate's per-process state after it, as
    accelerate's own AccelerateTestCase does."""
    yield
    AcceleratorState._reset_state()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, 64-wide BERT from the MiniLM config, randomly initialised, with MiniLM's tokenizer."""
    source = resolve_model_path("minilm-l6")
    config = AutoConfig.from_pretrained(source, num_hidden_layers=2, hidden_size=64, num_attention_heads=2,
                                        intermediate_size=128)
    folder = tmp_path_factory.mktemp("tiny-minilm")
    torch.manual_seed(0)  # the same tiny model in every session, so a test's outcome does not vary between runs
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


TOPICS = {"food": "bread cheese soup apple rice".split(), "music": "guitar song piano drum choir".split(),
          "sport": "football tennis goal match runner".split(), "weather": "rain snow storm wind sunshine".split()}


def cue_rows(cues: dict[str, list[str]], count: int, seed: int, label_column: str = "sentiment") -> pd.DataFrame:
    """Short texts whose label is told by one cue word of its class among filler words; the
    classes take turns.

    `augmented` is a strong view of `review`: another cue word of the same class among freshly
    drawn filler words.
    """
    rng = random.Random(seed)
    names = list(cues)
    rows = []
    for i in range(count):
        label = names[i % len(names)]
        words = rng.sample(FILLER, 5) + [rng.choice(cues[label])]
        augmented = rng.sample(FILLER, 4) + [rng.choice(cues[label])]
        rng.shuffle(words)
        rng.shuffle(augmented)
        rows.append({"review": " ".join(words), label_column: label, "augmented": " ".join(augmented)})
    return pd.DataFrame(rows)


def sentiment_rows(count: int, seed: int) -> pd.DataFrame:
    return cue_rows({"neg": NEGATIVE, "pos": POSITIVE}, count, seed)


@pytest.fixture
def sentiment_csv(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    sentiment_rows(240, seed=0).to_csv(path, index=False)
    return path


@pytest.fixture
def topics_csv(tmp_path: Path) -> Path:
    """Four classes of short texts (food, music, sport, weather), 80 of each."""
    path = tmp_path / "topics.csv"
    cue_rows(TOPICS, 320, seed=0, label_column="topic").to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_config(tmp_path: Path, tiny_model: str, sentiment_csv: Path):
    """A fast run on the sentiment CSV with the tiny model; keyword overrides are `section.key=value`."""
    def make(*overrides: str) -> Config:
        base = [f"data.dataset={sentiment_csv}", "data.text_column=review", "data.label_column=sentiment",
                "data.labels_per_class=8", "data.max_length=16", f"model.name={tiny_model}",
                f"train.output_dir={tmp_path / 'run'}", "train.max_steps=12", "train.batch_size=8",
                "train.learning_rate=1e-3", "train.eval_every=6", "train.save_every=6", "train.log_every=2",
                "train.eval_batch_size=64", "train.progress_bar=false"]
        return load_config(None, [*base, *overrides])
    return make


@pytest.fixture
def teacher(tiny_config, tmp_path):
    """A supervised run on the sentiment texts: the teacher (deciding with the labelled prior: on
    20 dev texts a tiny model's estimate of the pool's would be noise)."""
    config = tiny_config("train.learning_rate=3e-3", "train.max_steps=40", f"train.output_dir={tmp_path / 'teacher'}",
                         "data.prior=labelled")
    run(config)
    return config.output_dir


def dead_pid() -> int:
    """The process id of a process that has exited (what a killed run leaves in temporary names)."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              check=True).stdout)

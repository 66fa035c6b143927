"""USB's text recipes (BERT-base, 512 tokens, layer-wise decay): each resolves and trains two
steps with a tiny stand-in model on data of its dataset's shape."""

import random
from pathlib import Path

import pandas as pd
import pytest

from textssl.recipe import load_config
from textssl.run import run as train

pytestmark = pytest.mark.slow  # every test trains

USB = Path(__file__).parents[1] / "recipes" / "text" / "usb"
CLASSES = {"imdb": 2, "ag_news": 4, "yelp_review": 5, "amazon_review": 5}


def long_texts(classes: int, per_class: int, seed: int) -> pd.DataFrame:
    """Texts longer than 512 tokens, so truncation is exercised, with a `strong` view column."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    rows = [{"text": " ".join(rng.choices(words, k=300)), "label": label, "strong": " ".join(rng.choices(words, k=280))}
            for label in range(classes) for _ in range(per_class)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("dataset", sorted(CLASSES))
def test_usb_recipe_resolves_and_trains_two_steps(dataset, tmp_path, tiny_model):
    config = load_config(USB / f"{dataset}.yaml")
    assert (config.model.name, config.data.max_length, config.train.batch_size) == ("bert-base-uncased", 512, 8)
    assert config.train.layer_decay < 1 and config.algorithm.name == "fixmatch"

    data = tmp_path / f"{dataset}.csv"
    long_texts(CLASSES[dataset], config.data.labels_per_class + 10, seed=0).to_csv(data, index=False)
    stand_in = load_config(USB / f"{dataset}.yaml", [
        f"model.name={tiny_model}", f"data.dataset={data}", "views.augment=[]", "views.column=strong",
        f"train.output_dir={tmp_path / 'run'}", "train.max_steps=2", "train.eval_every=2", "train.save_every=2",
        "train.progress_bar=false", "data.dev_fraction=0.05", "data.test_fraction=0.05"])
    metrics = train(stand_in)
    assert metrics["num_labelled"] == CLASSES[dataset] * config.data.labels_per_class
    assert metrics["best_step"] == 2

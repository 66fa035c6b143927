"""Using a trained model: evaluate it, label new inputs, load it as a pipeline; text and image runs."""

import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import textssl
from textssl.cli import main
from textssl.errors import TextsslError
from textssl.inference import evaluate, load_classifier, predictions_table, read_inputs
from textssl.recipe import load_config
from textssl.run import run as train


@pytest.fixture
def text_run(tiny_config):
    config = tiny_config("data.labels_per_class=40", "train.max_steps=60", "train.learning_rate=2e-3",
                         "train.eval_every=20", "train.save_every=20")
    return config.output_dir, train(config)


@pytest.mark.slow
def test_evaluate_on_the_runs_test_split_matches_what_training_reported(text_run, capsys):
    run, metrics = text_run
    result = evaluate(run, progress=False)
    assert result["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert result["macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])
    matrix = np.asarray(result["confusion_matrix"])
    assert matrix.sum() == result["examples"] and np.trace(matrix) / matrix.sum() == pytest.approx(result["accuracy"])
    assert set(result["per_class"]) == {"neg", "pos"}

    main(["evaluate", str(run / "model"), "--data", str(run.parent / "reviews.csv"), "--json", str(run / "eval.json")])
    printed = capsys.readouterr().out
    assert "| true \\ predicted | neg | pos |" in printed
    whole = json.loads((run / "eval.json").read_text())
    assert whole["examples"] == 240  # a file is scored whole


def test_predict_writes_labels_and_probabilities_that_agree_with_evaluate(text_run, tmp_path, monkeypatch):
    run, _ = text_run
    texts = ["a wonderful superb film", "a dull terrible film"]
    pd.DataFrame({"review": texts}).to_csv(tmp_path / "new.csv", index=False)
    main(["predict", str(run), str(tmp_path / "new.csv"), "--column", "review", "--out", str(tmp_path / "out.jsonl")])
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    labels = [row["label"] for row in rows]
    assert labels == ["pos", "neg"]  # the run learns the cue words (test accuracy > 0.9 in test_engine)
    assert all(row["score_neg"] + row["score_pos"] == pytest.approx(1.0) for row in rows)

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(texts) + "\n").encode())))
    main(["predict", str(run), "-", "--out", str(tmp_path / "out.parquet")])
    assert pd.read_parquet(tmp_path / "out.parquet")["label"].tolist() == labels

    classify = textssl.load(run)
    assert [max(scores, key=lambda s: s["score"])["label"] for scores in classify(texts)] == labels


@pytest.mark.slow
def test_an_image_run_is_evaluated_and_labels_npy_images(tmp_path):
    config = load_config(Path(__file__).parents[1] / "recipes/image/supervised.yaml",
                         ["data.dataset=digits", f"train.output_dir={tmp_path / 'run'}", "train.max_steps=40",
                          "train.eval_every=20", "train.save_every=20", "train.progress_bar=false"])
    metrics = train(config)
    assert evaluate(tmp_path / "run", progress=False)["accuracy"] == pytest.approx(metrics["test"]["accuracy"])

    from sklearn.datasets import load_digits
    digits = load_digits()
    images = np.round(digits.images[:20] * (255 / 16)).astype(np.uint8)
    np.save(tmp_path / "digits.npy", images)
    main(["predict", str(tmp_path / "run"), str(tmp_path / "digits.npy"), "--out", str(tmp_path / "digits.csv")])
    table = pd.read_csv(tmp_path / "digits.csv")
    assert len(table) == 20 and "text" not in table.columns
    assert (table["label"].astype(str) == digits.target[:20].astype(str)).mean() > 0.5


@pytest.mark.slow
def test_bad_targets_and_inputs_get_one_clear_error(text_run, tmp_path):
    run, _ = text_run
    with pytest.raises(TextsslError, match="neither a textssl run folder"):
        load_classifier(tmp_path / "nowhere")
    model = load_classifier(run)
    pd.DataFrame({"review": ["fine"]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(TextsslError, match="no column 'text'"):
        read_inputs(str(tmp_path / "x.csv"), None, "text")
    assert predictions_table(model, [], progress=False).empty

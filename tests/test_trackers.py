"""`train.report_to`: every metric written to metrics.jsonl also reaches accelerate's tracker."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from textssl.engine import trainer as trainer_module
from textssl.errors import TextsslError
from textssl.run import run as train


def test_tensorboard_receives_what_metrics_jsonl_holds(tiny_config):
    config = tiny_config("train.report_to=tensorboard")
    train(config)
    logged = [json.loads(line) for line in (config.output_dir / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(config.output_dir / config.output_dir.name))
    events.Reload()
    for tag in ("train/loss/supervised", "dev/accuracy"):
        expected = [(row["step"], row[tag]) for row in logged if tag in row]
        assert expected
        assert [(event.step, pytest.approx(event.value)) for event in events.Scalars(tag)] == expected


def test_a_tracker_that_is_not_installed_is_a_clear_error(tiny_config, monkeypatch):
    monkeypatch.setitem(trainer_module.TRACKER_AVAILABLE, "wandb", lambda: False)
    with pytest.raises(TextsslError, match="train.report_to=wandb: the package is not installed; pip install wandb"):
        train(tiny_config("train.report_to=wandb"))
    with pytest.raises(TextsslError, match="train.report_to must be none, tensorboard or wandb"):
        tiny_config("train.report_to=mlflow")

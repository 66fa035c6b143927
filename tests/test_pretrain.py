"""In-domain pretraining: each objective learns, the folder feeds a recipe, a killed run resumes exactly."""

import json

import numpy as np
import pytest
import torch
from datasets import DatasetDict
from safetensors.torch import load_file

from textssl.config import DataConfig, PretrainConfig
from textssl.data import load_splits, prepare_data
from textssl.errors import TextsslError
from textssl.inference import load_classifier, probabilities
from textssl.pretrain import info_nce, pretrain, pretraining_rows, warn_unless_one_pass
from textssl.recipe import load_pretrain_config
from textssl.run import run as train


@pytest.fixture
def pretrain_config(tmp_path, tiny_model, sentiment_csv):
    def make(*overrides: str):
        base = [f"data.dataset={sentiment_csv}", "data.text_column=review", "data.label_column=sentiment",
                "data.max_length=16", f"model.name={tiny_model}", f"pretrain.output_dir={tmp_path / 'pretrained'}",
                "pretrain.max_steps=30", "pretrain.batch_size=16", "pretrain.learning_rate=1e-3",
                "pretrain.save_every=10", "pretrain.log_every=5", "pretrain.progress_bar=false"]
        return load_pretrain_config(None, [*base, *overrides])
    return make


def losses(folder) -> list[float]:
    return [json.loads(line)["train/loss"] for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_info_nce_is_low_when_each_anchor_is_nearest_its_own_partner():
    anchors = torch.eye(4)
    assert info_nce(anchors, anchors, 0.05) < 1e-6
    assert info_nce(anchors, anchors.roll(1, dims=0), 0.05) > 10  # every anchor nearest another's partner


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["contrastive", "mlm", "labelled_pairs"])
def test_pretraining_lowers_its_loss_and_its_folder_is_a_model_for_any_recipe(pretrain_config, tiny_config,
                                                                              tiny_model, objective):
    config = pretrain_config(f"pretrain.objective={objective}", "data.labels_per_class=8")
    folder = pretrain(config)
    logged = losses(config.output_dir)
    assert sum(logged[-2:]) < sum(logged[:2])

    weights = load_file(folder / "model.safetensors")
    original = load_file(f"{tiny_model}/model.safetensors")
    assert torch.equal(weights["pooler.dense.weight"], original["pooler.dense.weight"])  # MLM: the pooler comes back
    assert not torch.equal(weights["encoder.layer.0.attention.self.query.weight"],
                           original["encoder.layer.0.attention.self.query.weight"])
    metrics = train(tiny_config(f"model.name={folder}", "train.max_steps=4", "train.eval_every=2"))
    assert metrics["num_labelled"] == 16


@pytest.mark.slow
def test_a_killed_pretraining_run_resumes_to_the_same_encoder(pretrain_config, tmp_path, monkeypatch):
    whole = pretrain(pretrain_config(f"pretrain.output_dir={tmp_path / 'whole'}"))

    broken = pretrain_config(f"pretrain.output_dir={tmp_path / 'resumed'}")
    calls = {"n": 0}
    original = torch.optim.AdamW.step

    def dies_at_step_fifteen(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", dies_at_step_fifteen)
    with pytest.raises(KeyboardInterrupt):
        pretrain(broken)
    monkeypatch.undo()
    resumed = pretrain(broken)

    expected, got = load_file(whole / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    assert losses(tmp_path / "whole") == losses(tmp_path / "resumed")


def test_pretraining_refuses_a_changed_recipe_and_view_pairs_without_views(pretrain_config):
    pretrain(pretrain_config("pretrain.max_steps=2", "pretrain.save_every=2"))
    with pytest.raises(TextsslError, match="different config"):
        pretrain(pretrain_config("pretrain.max_steps=3"))
    with pytest.raises(TextsslError, match="views.augment"):
        pretrain(pretrain_config("pretrain.pairs=views", "pretrain.resume=false"))


def test_labelled_pairs_pair_the_runs_labelled_draw_within_and_across_classes(pretrain_config):
    config = pretrain_config("pretrain.objective=labelled_pairs", "data.labels_per_class=4", "pretrain.seed=1",
                             "pretrain.pair_iterations=3")
    pairs = pretraining_rows(config)
    labelled = data_for_seed(load_splits(config.data)["train"], seed=1)
    assert len(pairs) == 3 * 8 * 2 and set(pairs["text"]) == set(labelled) and set(pairs["partner"]) <= set(labelled)
    for text, partner, similarity in zip(pairs["text"], pairs["partner"], pairs["similarity"]):
        assert (labelled[text] == labelled[partner]) == (similarity == 1.0)
    with pytest.raises(TextsslError, match="labelled draw"):
        pretraining_rows(pretrain_config("pretrain.objective=labelled_pairs", "data.labels_per_class=null"))


def test_setfits_stage_warns_when_its_steps_are_not_about_one_pass_over_the_pairs(caplog):
    recipe = PretrainConfig(objective="labelled_pairs", max_steps=50, batch_size=16)  # one pass at 10 labels per class
    with caplog.at_level("WARNING", logger="textssl.pretrain"):
        warn_unless_one_pass(800, recipe)
        assert not caplog.records
        warn_unless_one_pass(4000, recipe)  # 50 per class
    assert "0.2 passes over the 4000 labelled pairs" in caplog.text and "pretrain.max_steps=250" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="textssl.pretrain"):
        warn_unless_one_pass(800, recipe, processes=4)  # each process takes a batch a step: 4 passes
    assert "4.0 passes over the 800 labelled pairs" in caplog.text and "pretrain.max_steps=13" in caplog.text


def test_a_teacher_adds_its_most_confident_pool_labels_to_the_pairs(pretrain_config, teacher):
    config = pretrain_config("pretrain.objective=labelled_pairs", "data.labels_per_class=4", "pretrain.seed=1",
                             f"pretrain.teacher={teacher}", "pretrain.teacher_per_class=5")
    train_split = load_splits(config.data)["train"]
    labelled = data_for_seed(train_split, seed=1)
    pool = [text for text in train_split["text"] if text not in labelled]
    probs = probabilities(load_classifier(teacher), pool, progress=False)
    names = train_split.features["label"].names
    taught = {}
    for label in range(len(names)):
        members = np.flatnonzero(probs.argmax(-1) == label)
        taught |= {pool[row]: label for row in members[np.argsort(-probs[members, label])[:5]]}
    assert len(taught) == 10  # the tiny teacher predicts both classes on this pool

    pairs = pretraining_rows(config)
    known = labelled | taught
    assert set(pairs["text"]) == set(known) and len(pairs) == 20 * 18 * 2
    for text, partner, similarity in zip(pairs["text"], pairs["partner"], pairs["similarity"]):
        assert (known[text] == known[partner]) == (similarity == 1.0)
    about = json.loads((pretrain(config) / "textssl_pretrain.json").read_text())
    assert about["teacher"] == str(teacher) and about["teacher_per_class"] == 5
    with pytest.raises(TextsslError, match="pretrain.teacher labels pool texts"):
        pretrain_config(f"pretrain.teacher={teacher}")


def data_for_seed(train_split, seed: int) -> dict[str, int]:
    """text -> label of the labelled examples a training run with this seed draws."""
    data = prepare_data(DatasetDict({"train": train_split, "dev": train_split, "test": train_split}),
                        lambda rows: {"t": rows["text"]}, DataConfig(labels_per_class=4), seed=seed)
    return dict(zip(data.labelled["t"], data.labelled["label"]))

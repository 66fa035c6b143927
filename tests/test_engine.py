import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import pipeline

from textssl.algorithms import algorithm_class
from textssl.algorithms.supervised import Supervised
from textssl.config import TrainConfig
from textssl.engine.metrics_log import MetricsLog
from textssl.engine.optim import build_scheduler
from textssl.errors import TextsslError
from textssl.data import load_splits
from textssl.engine.trainer import open_run_folder
from textssl.run import build_run, run as train


def log_rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_supervised_run_learns_and_writes_a_loadable_model(tiny_config):
    config = tiny_config("data.labels_per_class=40", "train.max_steps=60", "train.learning_rate=2e-3",
                         "train.eval_every=20", "train.save_every=20")
    metrics = train(config)
    run = config.output_dir
    losses = [row["train/loss/supervised"] for row in log_rows(run) if "train/loss/supervised" in row]
    assert losses[-1] < 0.5 * losses[0]
    assert metrics["test"]["accuracy"] > 0.9 and metrics["num_labelled"] == 80
    assert json.loads((run / "metrics.json").read_text())["test"] == metrics["test"]
    assert "algorithm:\n  name: supervised" in (run / "config.yaml").read_text()

    classifier = pipeline("text-classification", model=str(run / "model"))
    predictions = classifier(["a wonderful superb film", "a dull terrible film"])
    assert [p["label"] for p in predictions] == ["pos", "neg"]


def test_best_on_dev_checkpoint_is_the_one_tested(tiny_config):
    metrics = train(tiny_config())
    dev_rows = [row for row in log_rows(tiny_config().output_dir) if "dev/accuracy" in row]
    best = max(dev_rows, key=lambda row: row["dev/accuracy"])  # max keeps the first of equals
    assert metrics["best_step"] == best["step"]
    assert metrics["dev"]["accuracy"] == best["dev/accuracy"]


def test_final_step_and_best_on_dev_models_are_both_tested(tiny_config):
    from textssl.inference import evaluate as evaluate_saved, probabilities

    config = tiny_config("train.max_steps=24", "train.eval_every=4", "train.learning_rate=3e-3", "data.prior=labelled")
    built = build_run(config)
    state = built.trainer.train(resume=open_run_folder(config, built.trainer.accelerator))
    test = load_splits(config.data)["test"]
    final_model = built.trainer.backbone.eval()
    final = probabilities(final_model, test["text"], progress=False).argmax(-1)
    metrics = built.finish(state)

    assert metrics["test_final"]["accuracy"] == pytest.approx(float((final == test["label"]).mean()))
    assert metrics["test"]["accuracy"] == pytest.approx(evaluate_saved(config.output_dir, progress=False)["accuracy"])
    assert json.loads((config.output_dir / "metrics.json").read_text())["test_final"] == metrics["test_final"]


def killed_at_step(monkeypatch, config, step: int) -> None:
    """Train `config` until its `step`-th training step (counted from 1) stops it, as a kill would."""
    method = algorithm_class(config.algorithm.name)
    original, calls = method.training_step, []

    def dies(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt("killed")
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(method, "training_step", dies)
        with pytest.raises(KeyboardInterrupt):
            train(config)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", [
    ["algorithm.name=supervised"],
    ["algorithm.name=mean_teacher", "views.column=augmented"],  # an EMA teacher in the checkpoint
    ["algorithm.name=fixmatch", "views.column=augmented", "algorithm.threshold=0.6",
     "algorithm.distribution_alignment=true"],  # a running class average in the checkpoint
    ["algorithm.name=temporal_ensembling"],  # per-example state sized to the pool
], ids=lambda options: options[0].split("=")[1])
def test_killed_run_resumes_to_the_same_result(tiny_config, tmp_path, monkeypatch, algorithm):
    reference = train(tiny_config("train.output_dir=" + str(tmp_path / "whole"), *algorithm))

    broken = tiny_config("train.output_dir=" + str(tmp_path / "resumed"), *algorithm)
    killed_at_step(monkeypatch, broken, 9)
    assert json.loads((tmp_path / "resumed/checkpoint/last/trainer_state.json").read_text())["step"] == 6

    resumed = train(broken)
    for key in ("best_step", "dev", "test"):
        assert resumed[key] == reference[key]
    assert log_rows(tmp_path / "resumed") == log_rows(tmp_path / "whole")
    whole = build_run(tiny_config("train.output_dir=" + str(tmp_path / "whole"), *algorithm)).trainer
    again = build_run(broken).trainer
    whole.backbone.load_weights(tmp_path / "whole/model")
    again.backbone.load_weights(tmp_path / "resumed/model")
    for (name, a), (_, b) in zip(whole.backbone.state_dict().items(), again.backbone.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_a_run_resumed_between_two_log_lines_writes_the_same_log(tiny_config, tmp_path, monkeypatch):
    """The steps since the last log line are in the checkpoint: with a checkpoint at step 6 and a
    line every 4 steps, the line at step 8 of the resumed run averages steps 5 to 8, not 7 and 8."""
    options = ("train.log_every=4", "train.save_every=6", "train.max_steps=10")
    train(tiny_config(f"train.output_dir={tmp_path / 'whole'}", *options))
    broken = tiny_config(f"train.output_dir={tmp_path / 'resumed'}", *options)
    killed_at_step(monkeypatch, broken, 8)
    train(broken)
    assert log_rows(tmp_path / "resumed") == log_rows(tmp_path / "whole")


def test_a_log_line_cut_off_by_a_kill_is_dropped_on_resume(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1, "x": 1}\n{"step": 2, "x": 2}\n{"step": 3, "x"')
    MetricsLog(log, after_step=2)
    assert log_rows(tmp_path) == [{"step": 1, "x": 1}, {"step": 2, "x": 2}]


@pytest.mark.slow
def test_resuming_with_a_changed_config_is_refused(tiny_config):
    train(tiny_config())
    with pytest.raises(TextsslError, match="different config"):
        train(tiny_config("train.learning_rate=1e-4"))


@pytest.mark.slow
def test_a_run_resumes_when_only_the_order_of_its_saved_config_differs(tiny_config):
    config = tiny_config()
    first = train(config)
    saved = config.output_dir / "config.yaml"
    sections = yaml.safe_load(saved.read_text())
    saved.write_text(yaml.safe_dump(dict(reversed(sections.items())), sort_keys=True))  # as another release might
    assert train(config)["test"] == first["test"]


@pytest.mark.slow
def test_a_run_saved_before_a_setting_existed_resumes_and_a_changed_setting_is_refused(tiny_config):
    config = tiny_config()
    first = train(config)
    saved = config.output_dir / "config.yaml"
    sections = yaml.safe_load(saved.read_text())
    del sections["model"]["trust_remote_code"], sections["views"]["workers"]  # as an earlier release wrote it
    saved.write_text(yaml.safe_dump(sections))
    assert train(tiny_config("views.workers=3"))["test"] == first["test"]  # workers do not change the views
    with pytest.raises(TextsslError, match="different config"):
        train(tiny_config("model.trust_remote_code=true"))


def test_bf16_runs_the_forward_in_bfloat16(tiny_config):
    run = build_run(tiny_config("train.mixed_precision=bf16", "train.max_steps=2"))
    seen = []
    run.trainer.backbone.model.classifier.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    run.execute()
    assert torch.bfloat16 in seen


def test_a_second_run_in_the_process_with_another_precision_gets_a_clear_error(tiny_config):
    train(tiny_config("train.max_steps=2"))
    with pytest.raises(TextsslError, match="train.mixed_precision=bf16: this Python process already trained"):
        build_run(tiny_config("train.mixed_precision=bf16", "train.max_steps=2"))


@pytest.mark.slow
def test_gradient_accumulation_runs_the_requested_micro_batches(tiny_config, monkeypatch):
    calls = {"n": 0}
    original = Supervised.training_step

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Supervised, "training_step", counted)
    train(tiny_config("train.gradient_accumulation_steps=3", "train.max_steps=4"))
    assert calls["n"] == 12


def test_warmup_then_linear_decay():
    config = TrainConfig(max_steps=10, warmup_ratio=0.2, learning_rate=1.0)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(optimizer, config)
    rates = []
    for _ in range(10):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[:3] == pytest.approx([0.0, 0.5, 1.0])  # transformers.get_scheduler
    assert rates[2:] == sorted(rates[2:], reverse=True) and rates[-1] == pytest.approx(1 / 8)


@pytest.mark.parametrize("network", ["small-cnn", "wrn-10-2"])
def test_image_recipe_runs_on_the_same_core(tmp_path, network):
    from textssl.models.image import ImageClassifier
    from textssl.recipe import load_config
    config = load_config(Path(__file__).parents[1] / "recipes/image/supervised.yaml",
                         ["data.dataset=digits", f"model.name={network}", f"train.output_dir={tmp_path}",
                          "train.max_steps=40", "train.eval_every=20", "train.save_every=20",
                          "train.progress_bar=false"])
    metrics = train(config)
    assert metrics["test"]["accuracy"] > 0.5  # chance is 0.1

    trained = build_run(config).trainer.backbone
    trained.load_weights(tmp_path / "model")
    saved = json.loads((tmp_path / "model/config.json").read_text())
    loaded = ImageClassifier.from_saved(tmp_path / "model", saved, max_length=0, trust_remote_code=False)
    pixels = {"pixel_values": torch.rand(4, 1, 8, 8)}
    assert torch.equal(trained.eval()(pixels), loaded.eval()(pixels))


def test_a_wide_resnet_depth_must_be_6n_plus_4():
    from textssl.config import ModelConfig
    from textssl.models import build_backbone
    with pytest.raises(TextsslError, match="wrn-12-2: depth must be 6n"):
        build_backbone(ModelConfig(name="wrn-12-2"), ["a", "b"], ["image", "label"])


@pytest.mark.slow
def test_a_max_grad_norm_of_zero_clips_nothing(tiny_config):
    """One SGD step with a huge learning rate (Adam would undo any scaling): clipped to a tiny norm
    the weights barely move, unclipped they do."""
    moved = {}
    for bound in (1e-6, 0.0):
        trainer = build_run(tiny_config(f"train.max_grad_norm={bound}", "train.optimizer=sgd",
                                        "train.learning_rate=1.0", "train.weight_decay=0.0",
                                        "train.warmup_ratio=0.0")).trainer
        before = [p.detach().clone() for p in trainer.backbone.parameters()]
        logs = trainer.step(0)
        moved[bound] = max((p.detach() - b).abs().max().item() for p, b in zip(trainer.backbone.parameters(), before))
        assert logs["grad_norm"] > 1e-3  # the norm before clipping, logged either way
    assert moved[1e-6] < 1e-5 < 1e-2 < moved[0.0]


def test_layer_decay_scales_each_layer_below_the_one_above(tiny_config):
    from textssl.engine.optim import build_optimizer

    run = build_run(tiny_config("train.layer_decay=0.5", "train.learning_rate=1.0"))
    rates = {}
    optimizer = build_optimizer(run.trainer.backbone, run.config.train)
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            rates[id(parameter)] = group["lr"]
    named = dict(run.trainer.backbone.named_parameters())

    def rate(fragment: str) -> float:
        return {rates[id(p)] for name, p in named.items() if fragment in name}.pop()

    # 2 layers: embeddings 0.5^3, layer 0 0.5^2, layer 1 0.5, pooler and classifier 1
    assert [rate("embeddings.word"), rate("layer.0.attention.self.query.weight"),
            rate("layer.1.output.dense.weight"), rate("pooler.dense.weight"), rate("classifier.weight")] == \
        [0.125, 0.25, 0.5, 1.0, 1.0]
    with pytest.raises(TextsslError, match="layer_decay"):
        build_optimizer(torch.nn.Linear(2, 2), TrainConfig(layer_decay=0.5))


def test_the_pool_prior_is_folded_into_the_saved_model(tiny_config):
    from textssl.inference import evaluate as evaluate_saved
    from textssl.prior import PriorShift

    config = tiny_config("train.max_steps=24", "train.eval_every=4", "train.learning_rate=3e-3",
                         "data.class_prior=[0.3,0.7]")
    metrics = train(config)
    saved = PriorShift.read(config.output_dir / "model")
    assert metrics["prior"] == json.loads((config.output_dir / "model" / "prior.json").read_text())
    assert saved.estimator == "given" and saved.pool_prior == pytest.approx([0.3, 0.7]) and saved.temperature > 0
    assert {"accuracy", "macro_f1", "predicted_share"} <= set(metrics["test_labelled_prior"])
    assert metrics["test_final_labelled_prior"] is not None
    assert metrics["test"]["accuracy"] == pytest.approx(evaluate_saved(config.output_dir, progress=False)["accuracy"])

    again = build_run(config)  # a finished run finished again: the shift is estimated anew, not folded twice
    prior = again.finish(again.trainer.train(resume=open_run_folder(config, again.trainer.accelerator)))["prior"]
    for key in ("pool_prior", "offset", "temperature"):
        assert prior[key] == pytest.approx(metrics["prior"][key], abs=1e-5)


def test_an_estimate_of_the_pool_prior_within_its_spread_of_the_model_s_shares_keeps_its_decision(tiny_config, caplog):
    """The tiny model's own estimate, calibrated on 5 dev texts per class, is too uncertain to tell
    from what it predicts."""
    config = tiny_config("train.max_steps=24", "train.eval_every=4", "train.learning_rate=3e-3", "data.prior=estimated",
                         "data.dev_per_class=5")
    metrics = train(config)
    assert metrics["prior"] is None and not (config.output_dir / "model" / "prior.json").exists()
    assert metrics["test_labelled_prior"] is None
    assert "kept the model's decision: the pool's prior estimate" in caplog.text
    assert "and the shares the model predicts on the pool" in caplog.text and "too close for its spread" in caplog.text

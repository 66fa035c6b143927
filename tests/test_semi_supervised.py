"""Semi-supervised runs through the engine: views, per-step analysis, hidden labels."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict

import textssl.run as run_module
from textssl.config import DataConfig
from textssl.data import BatchStream, TextViews, prepare_data
from textssl.run import Run, build_run
from textssl.run import run as train
from textssl.errors import TextsslError
from textssl.inference import load_classifier
from textssl.recipe import load_config
from textssl.report import report, write_report

from conftest import SEMI_SUPERVISED, dead_pid

RECIPES = Path(__file__).parents[1] / "recipes"
UDA = ["algorithm.name=uda", "views.column=augmented", "algorithm.threshold=0.5", "train.uratio=2"]


@pytest.mark.slow
def test_uda_logs_the_unlabelled_analysis_every_step(tiny_config):
    config = tiny_config(*UDA)
    train(config)
    rows = [json.loads(line) for line in (config.output_dir / "metrics.jsonl").read_text().splitlines()]
    logged = set().union(*rows)
    for key in ("loss/supervised", "loss/unsupervised", "unsup_weight", "tsa_threshold", "unlabelled/mask_rate",
                "unlabelled/predicted_share/neg", "unlabelled/predicted_share/pos",
                "unlabelled/pseudo_label_accuracy"):
        assert f"train/{key}" in logged, key
    shares = [row["train/unlabelled/predicted_share/neg"] + row["train/unlabelled/predicted_share/pos"]
              for row in rows if "train/unlabelled/predicted_share/neg" in row]
    assert shares and all(share == pytest.approx(1.0) for share in shares)

    table = report(config.output_dir).splitlines()
    assert table[0] == ("| step | L_s | L_u | mu | tsa kept | mask | target acc | dev acc | dev F1 "
                        "| pred neg | pred pos |")
    assert len(table) == 2 + len({row["step"] for row in rows})

    markdown = write_report(config.output_dir).read_text()
    for stem in ("dev", "loss", "unsup_weight", "mask_rate", "target_accuracy", "predicted_share"):
        assert f"(report_{stem}.png)" in markdown, stem
        assert (config.output_dir / f"report_{stem}.png").read_bytes().startswith(b"\x89PNG"), stem
    assert markdown.endswith("\n".join(table) + "\n")


def test_the_report_draws_only_what_the_run_logged(tmp_path):
    steps = [{"step": step, "train/loss/supervised": 1.0 / step} for step in (10, 20, 30)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in
                                                    [*steps, {"step": 30, "dev/accuracy": 0.7}]))
    markdown = write_report(tmp_path / "metrics.jsonl").read_text()
    assert sorted(path.name for path in tmp_path.glob("*.png")) == ["report_dev.png", "report_loss.png"]
    assert "(report_dev.png)" in markdown and "(report_loss.png)" in markdown and "Best step" not in markdown


@pytest.mark.slow
def test_training_never_reads_the_hidden_labels(tiny_config, tmp_path, monkeypatch):
    first = build_run(tiny_config(*UDA, f"train.output_dir={tmp_path / 'a'}"))
    assert "label" not in first.task.data.unlabelled.column_names
    first.execute()

    original = run_module.prepare_data

    def scrambled(*args, **kwargs):  # same data, hidden labels replaced by a permutation
        data = original(*args, **kwargs)
        data.unlabelled_truth = np.random.default_rng(1).permutation(data.unlabelled_truth)
        return data

    monkeypatch.setattr(run_module, "prepare_data", scrambled)
    second = build_run(tiny_config(*UDA, f"train.output_dir={tmp_path / 'b'}"))
    second.execute()
    for (name, a), (_, b) in zip(first.trainer.backbone.state_dict().items(),
                                 second.trainer.backbone.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_only_methods_that_read_the_pool_preprocess_it(tiny_config):
    supervised = build_run(tiny_config())
    assert supervised.task.unlabelled is None and supervised.task.data.unlabelled.column_names == []
    assert supervised.execute()["num_unlabelled"] == len(supervised.task.data.unlabelled) > 0
    standardised = build_run(tiny_config("model.cached_features=true"))  # standardises with the pool's statistics
    assert standardised.task.unlabelled is None and standardised.task.data.unlabelled.column_names == ["features"]
    assert build_run(tiny_config("algorithm.name=pseudo_label")).task.data.unlabelled.column_names != []


def test_methods_that_need_a_strong_view_say_how_to_give_one(tiny_config):
    with pytest.raises(TextsslError, match="views.column"):
        build_run(tiny_config("algorithm.name=fixmatch"))


def test_missing_view_column_names_the_file(tiny_config, sentiment_csv):
    with pytest.raises(TextsslError, match=r"reviews\.csv: no column 'paraphrase'.*views\.column"):
        build_run(tiny_config("algorithm.name=uda", "views.column=paraphrase"))


def test_several_strong_copies_take_turns_by_epoch():
    texts = [f"text {i}" for i in range(4)]
    pool = Dataset.from_dict({"text": texts, "label": [0, 1, 0, 1],
                              "strong": [[f"{t} copy0", f"{t} copy1"] for t in texts]})
    pool = pool.cast_column("label", ClassLabel(names=["a", "b"]))
    splits = DatasetDict({"train": pool, "dev": pool.remove_columns("strong"), "test": pool.remove_columns("strong")})
    data = prepare_data(splits, lambda rows: {"tokens": [t.split() for t in rows["text"]]},
                        DataConfig(labels_per_class=1), seed=0)
    assert "strong_tokens" not in data.labelled.column_names
    stream = BatchStream(data.unlabelled, 2, seed=(0, 1))
    views = TextViews(lambda rows: rows, has_strong=True)
    first_epoch, second_epoch = (views.unlabelled(*stream.rows(step), weak=1, strong=1) for step in (0, 1))
    for views, copy in ((first_epoch, "copy0"), (second_epoch, "copy1")):
        for weak, strong in zip(views.weak["tokens"], views.strong["tokens"]):
            assert strong == [*weak, copy]


def _texts(count: int) -> Dataset:
    return Dataset.from_dict({"text": [f"the plot of film number {i} was slow and long" for i in range(count)]})


def _counting_chunks(monkeypatch, fail_after: int | None = None) -> list[int]:
    """Count the chunks computed in this process; raise (as a kill would stop it) after `fail_after`."""
    import textssl.data.view_cache as views_module

    written, original = [], views_module._write_chunk

    def write_chunk(job):
        if fail_after is not None and len(written) == fail_after:
            raise KeyboardInterrupt
        written.append(job[1])
        return original(job)

    monkeypatch.setattr(views_module, "_write_chunk", write_chunk)
    return written


def test_computed_views_are_cached_by_key_and_rebuilt_when_the_key_differs(monkeypatch, caplog):
    from textssl.config import ViewsConfig
    from textssl.data.view_cache import augmented_views, cache_dir

    texts, config = _texts(30), ViewsConfig(augment=["swap:p=0.5"], copies=2, seed=3, workers=1)
    computed = _counting_chunks(monkeypatch)
    first = augmented_views(texts, config)["strong"]
    assert len(first) == 30 and all(len(copies) == 2 for copies in first)
    assert any(copy != text for copies, text in zip(first, texts["text"]) for copy in copies)
    assert augmented_views(texts, config)["strong"] == first and len(computed) == 1

    [folder] = (cache_dir() / "views").iterdir()
    key = json.loads((folder / "key.json").read_text())
    (folder / "key.json").write_text(json.dumps({**key, "versions": {"augment": "0.0.1", "cache_format": 1}}))
    assert augmented_views(texts, config)["strong"] == first and len(computed) == 2
    assert "was written by another version (augment 0.0.1, cache format 1; this is augment" in caplog.text

    other_seed = augmented_views(texts, ViewsConfig(augment=["swap:p=0.5"], copies=2, seed=4, workers=1))
    assert other_seed["strong"] != first and len(computed) == 3


def test_a_killed_view_build_resumes_from_its_finished_chunks(monkeypatch, tmp_path):
    from textssl.config import ViewsConfig
    from textssl.data.view_cache import augmented_views, cache_dir

    texts, config = _texts(50), ViewsConfig(augment=["tfidf:p=0.7"], copies=2, workers=1)
    with monkeypatch.context() as patch:
        _counting_chunks(patch, fail_after=3)
        with pytest.raises(KeyboardInterrupt):
            augmented_views(texts, config, chunk_rows=8)
    [partial] = cache_dir().glob("views/*.partial")
    (partial / f"chunk-000000000024.arrow.tmp{dead_pid()}").write_bytes(b"half a chunk")  # as a killed worker leaves it
    live = partial / f"chunk-000000000032.arrow.tmp{os.getppid()}"  # a concurrent build's, still being written
    live.write_bytes(b"being written")
    resumed = _counting_chunks(monkeypatch)
    views = augmented_views(texts, config, chunk_rows=8)["strong"]
    assert resumed == [24, 32, 40, 48]  # chunks 0, 8 and 16 were kept
    assert [path.name for path in cache_dir().glob("views/*/*.tmp*")] == [live.name]

    monkeypatch.setenv("TEXTSSL_CACHE", str(tmp_path / "uninterrupted"))
    assert augmented_views(texts, config, chunk_rows=8)["strong"] == views


def test_several_workers_compute_the_views_one_process_computes(monkeypatch, tmp_path):
    from textssl.config import ViewsConfig
    from textssl.data.view_cache import augmented_views

    texts = _texts(200)
    monkeypatch.setenv("TEXTSSL_CACHE", str(tmp_path / "one"))
    one = augmented_views(texts, ViewsConfig(augment=["tfidf:p=0.7"], copies=2, workers=1), chunk_rows=30)
    monkeypatch.setenv("TEXTSSL_CACHE", str(tmp_path / "three"))
    three = augmented_views(texts, ViewsConfig(augment=["tfidf:p=0.7"], copies=2, workers=3), chunk_rows=30)
    assert three["strong"] == one["strong"]
    assert len(list((tmp_path / "three").glob("views/*/chunk-*.arrow"))) == 7


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", [["algorithm.name=mean_teacher"], [*UDA, "algorithm.ema_decay=0.9"],
                                       ["algorithm.name=supervised", "algorithm.ema_decay=0.9"]],
                         ids=["mean_teacher", "uda_with_teacher", "supervised_with_ema"])
def test_a_teacher_is_the_model_evaluated_and_saved(tiny_config, algorithm):
    run = build_run(tiny_config("views.column=augmented", *algorithm, "train.max_steps=12", "train.eval_every=12",
                                "data.prior=labelled"))  # a moved decision rewrites the tested output layer
    trainer, student = run.trainer, {}

    class KeepsTheStudent(Run):
        def finish(self, state):  # finish loads the saved model into the student, then tests it
            student.update({name: weights.clone() for name, weights in trainer.backbone.state_dict().items()})
            return super().finish(state)

    KeepsTheStudent(run.config, run.task, trainer, run.dev_loader, run.test_loader).execute()
    teacher = run.task.algorithm.state["teacher"].model.state_dict()
    tested = trainer.backbone.state_dict()
    assert all(torch.equal(tested[name], weights) for name, weights in teacher.items())
    assert not all(torch.equal(student[name], weights) for name, weights in teacher.items())


@pytest.mark.slow
def test_targets_come_from_the_teacher_when_there_is_one(tiny_config):
    run = build_run(tiny_config(*UDA, "algorithm.ema_decay=0.99"))
    trainer, algorithm = run.trainer, run.task.algorithm
    teacher = algorithm.state["teacher"]
    with torch.no_grad():
        for parameter in trainer.backbone.parameters():
            parameter.add_(torch.randn_like(parameter))  # the student moves away from the teacher
    views = run.task.batch(0, trainer.accelerator.device)[1]
    targets = algorithm.targets(trainer.model, views.weak)
    assert torch.allclose(targets, torch.softmax(teacher(views.weak), dim=-1))
    assert not torch.allclose(targets, torch.softmax(trainer.model.eval()(views.weak), dim=-1))


@pytest.mark.slow
@pytest.mark.parametrize("name", SEMI_SUPERVISED)
def test_every_method_trains_a_four_class_text_model_through_the_engine(tiny_config, topics_csv, name):
    """Hidden-state mixing, per-token perturbations and padded concatenation on a real BERT, with
    four classes, and the decision moved to a given pool prior (an estimate from a tiny model and
    20 dev texts is too uncertain to act on)."""
    config = tiny_config(f"data.dataset={topics_csv}", "data.label_column=topic", "data.class_prior=[0.4,0.3,0.2,0.1]",
                         f"algorithm.name={name}", "views.column=augmented", "model.mix_layer=1",
                         "train.max_steps=4", "train.eval_every=4", "train.save_every=4", "train.log_every=1")
    metrics = train(config)
    rows = [json.loads(line) for line in (config.output_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [row["train/loss/unsupervised"] for row in rows if "train/loss/unsupervised" in row]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert len(metrics["test"]["predicted_share"]) == 4 and sum(metrics["test"]["predicted_share"]) == pytest.approx(1)
    assert metrics["prior"]["pool_prior"] == pytest.approx([0.4, 0.3, 0.2, 0.1]) and len(metrics["prior"]["offset"]) == 4
    assert load_classifier(config.output_dir).label_names == ["food", "music", "sport", "weather"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SEMI_SUPERVISED)
def test_every_method_trains_an_image_model_through_the_engine(tmp_path, name):
    """Batch-time image views (K weak, S strong) and BatchNorm through every method."""
    config = load_config(RECIPES / "image" / f"{name}.yaml",
                         ["data.dataset=digits", f"train.output_dir={tmp_path}", "train.max_steps=3",
                          "train.eval_every=3", "train.save_every=3", "train.log_every=1", "train.progress_bar=false"])
    train(config)
    rows = [json.loads(line) for line in (config.output_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["train/loss/unsupervised"]) for row in rows if "train/loss/unsupervised" in row)

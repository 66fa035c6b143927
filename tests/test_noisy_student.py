"""Noisy Student: a trained teacher labels the pool once; the student learns its labels under noise, in rounds."""

import json

import pytest
import torch
import yaml

import textssl.inference as inference
from textssl.errors import TextsslError
from textssl.inference import load_classifier, probabilities
from textssl.run import build_run, run, train


def student(tiny_config, teacher, *overrides):
    return build_run(tiny_config("algorithm.name=noisy_student", f"algorithm.teacher={teacher}",
                                 "views.column=augmented", *overrides))


def test_the_targets_are_the_teachers_predictions_on_the_pool_computed_once(tiny_config, teacher, monkeypatch):
    run = student(tiny_config, teacher)
    pool = list(run.task.data.unlabelled_inputs()["text"])
    expected = probabilities(load_classifier(teacher), pool, progress=False)
    state = run.task.algorithm.state
    assert torch.allclose(state.targets, torch.from_numpy(expected), atol=1e-6)
    assert torch.equal(state.weights, torch.ones(len(pool)))

    monkeypatch.setattr(inference, "load_classifier", lambda *args: pytest.fail("the teacher ran again"))
    again = student(tiny_config, teacher)
    assert torch.equal(again.task.algorithm.state.targets, state.targets)


def test_hard_filtered_and_balanced_targets(tiny_config, teacher):
    soft = student(tiny_config, teacher).task.algorithm.state.targets
    threshold = soft.max(-1).values.quantile(0.3).item()  # keeps about 70 % of the pool
    state = student(tiny_config, teacher, "algorithm.hard=true", f"algorithm.threshold={threshold}",
                    "algorithm.balanced=true").task.algorithm.state
    predicted = soft.argmax(-1)
    assert torch.equal(state.targets, torch.nn.functional.one_hot(predicted, 2).float())
    kept = soft.max(-1).values >= threshold
    assert torch.equal(state.weights > 0, kept) and 0 < kept.sum() < len(kept)
    assert 0 < (predicted[kept] == 0).sum() < (predicted[kept] == 1).sum() or \
        0 < (predicted[kept] == 1).sum() < (predicted[kept] == 0).sum()  # two classes of unequal size
    per_class = [state.weights[kept & (predicted == label)].sum().item() for label in range(2)]
    assert per_class[0] == pytest.approx(per_class[1])  # every class counts as the smallest one
    assert state.weights.max() == 1.0


@pytest.mark.slow
def test_rounds_each_teach_the_next_in_their_own_run_folders(tiny_config, teacher, tmp_path):
    config = tiny_config("algorithm.name=noisy_student", f"algorithm.teacher={teacher}", "algorithm.rounds=2",
                         "views.column=augmented", f"train.output_dir={tmp_path / 'students'}")
    result = train(config)
    assert result.output_dir == tmp_path / "students" / "round-2"
    assert yaml.safe_load((tmp_path / "students/round-1/config.yaml").read_text())["algorithm"]["teacher"] == str(teacher)
    assert yaml.safe_load((tmp_path / "students/round-2/config.yaml").read_text())["algorithm"]["teacher"] == str(
        tmp_path / "students" / "round-1")
    assert result.metrics == json.loads((tmp_path / "students/round-2/metrics.json").read_text())
    assert (tmp_path / "students/round-1/metrics.json").is_file()


def test_a_teacher_is_required_and_must_share_the_classes(tiny_config, teacher, tmp_path):
    with pytest.raises(TextsslError, match="noisy_student needs a teacher"):
        build_run(tiny_config("algorithm.name=noisy_student"))
    saved = teacher / "model" / "config.json"
    config = json.loads(saved.read_text())
    config["id2label"] = {"0": "bad", "1": "good"}
    saved.write_text(json.dumps(config))
    with pytest.raises(TextsslError, match=r"its classes \['bad', 'good'\] are not the data's"):
        student(tiny_config, teacher)
    with pytest.raises(TextsslError, match="distribution_alignment: noisy_student does not take it"):
        student(tiny_config, teacher, "algorithm.distribution_alignment=true")


def test_the_students_card_names_its_teacher_and_evaluate_reports_its_speed(tiny_config, teacher, tmp_path):
    from textssl.inference import evaluate, evaluation_table
    from textssl.push import build_upload

    config = tiny_config("algorithm.name=noisy_student", f"algorithm.teacher={teacher}", "views.column=augmented",
                         "train.max_steps=4", "train.eval_every=2", f"train.output_dir={tmp_path / 'student'}")
    run(config)
    card = (build_upload(config.output_dir, "someone/student", tmp_path / "upload") / "README.md").read_text()
    assert f"taught by the model of `{teacher}`" in card
    result = evaluate(config.output_dir, progress=False)
    assert result["texts_per_second"] > 0 and " texts/s" in evaluation_table(result).splitlines()[0]

"""The accuracy harness's table: mean ± std over seeds and the gain over supervised, paired by seed."""

import importlib.util
import json
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("accuracy", Path(__file__).parents[1] / "benchmarks" / "accuracy.py")
accuracy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(accuracy)


def result(recipe: str, seed: int, test_accuracy: float, *overrides: str, steps_per_second: float = 10.0) -> dict:
    return {"recipe": recipe, "seed": seed, "overrides": ["data.labels_per_class=10", *overrides],
            "test": {"accuracy": test_accuracy, "macro_f1": test_accuracy - 0.1, "majority_share": 0.6},
            "train_steps_per_second": steps_per_second}


def test_gain_is_paired_by_seed_and_a_control_is_compared_with_the_plain_baseline():
    rows = [result("supervised", 0, 0.60), result("supervised", 1, 0.50), result("supervised", 2, 0.70),
            result("fixmatch", 0, 0.62, steps_per_second=2.0), result("fixmatch", 1, 0.53, steps_per_second=4.0),
            result("supervised", 0, 0.59, "algorithm.ema_decay=0.99"),
            result("supervised", 0, 0.61, "model.cached_features=true", steps_per_second=400.0)]
    lines = {line.split(" | ")[0]: line for line in accuracy.table(rows).splitlines()[2:]}
    assert lines["| supervised data.labels_per_class=10"].endswith("| 0.600 ± 0.100 | — | 0.500 ± 0.100 | — | 0.600 | — | — | — |")
    # paired: +0.02 and +0.03, although fixmatch's mean (0.575) is below supervised's (0.600);
    # (seed 2 not run yet); steps take 5 and 2.5 times as long: 3.75 on average
    assert lines["| fixmatch data.labels_per_class=10"].endswith("| +0.025 ± 0.007 | 3.8× | — |")
    control = lines["| supervised data.labels_per_class=10 algorithm.ema_decay=0.99"]
    assert control.endswith("| 0.590 | — | 0.490 | — | 0.600 | -0.010 | 1.0× | — |")
    assert lines["| supervised data.labels_per_class=10 model.cached_features=true"].endswith("| 0.025× | — |")


def test_a_baseline_on_another_dataset_is_compared_with_nothing():
    mnist, fashion = result("supervised", 0, 0.91), result("supervised", 0, 0.71, "data.dataset=fashion_mnist")
    mnist["dataset"], fashion["dataset"] = "mnist_5k", "fashion_mnist"
    lines = accuracy.table([mnist, fashion]).splitlines()
    assert lines[-1].endswith("| — | — | — |")


def test_a_run_folder_left_by_other_code_is_started_over(tmp_path, monkeypatch):
    commands = []

    def fake_train(command, **kwargs):
        commands.append(command)
        folder = Path(next(arg.split("=", 1)[1] for arg in command if arg.startswith("train.output_dir=")))
        (folder / "metrics.json").write_text(json.dumps({
            "test": {"accuracy": 0.9, "macro_f1": 0.9, "predicted_share": [0.1] * 10},
            "test_final": {"accuracy": 0.8, "macro_f1": 0.8, "predicted_share": [0.2] * 5 + [0.0] * 5},
            "dev": {}, "best_step": 1, "max_steps": 1, "num_labelled": 100, "prior": None,
            "train_steps_per_second": 1.0}))
        (folder / "config.yaml").write_text("data: {dataset: digits, labels_per_class: 10}\nalgorithm: {name: supervised}\n"
                                              "model: {name: lenet}\n")

    monkeypatch.setattr(accuracy.subprocess, "run", fake_train)
    for version in ("aaaa", "aaaa", "bbbb"):
        monkeypatch.setattr(accuracy, "code_version", lambda version=version: version)
        accuracy.run_one("recipes/image/supervised.yaml", 0, (), tmp_path, [], threads=1)
    assert ["train.resume=false" in command for command in commands] == [True, False, True]
    row = accuracy.run_one("recipes/image/supervised.yaml", 0, (), tmp_path, [], threads=1)
    assert (row["model"], row["test_accuracy"], row["test_accuracy_final"]) == ("lenet", 0.9, 0.8)
    assert (row["draw"], row["prior"], row["selection"], row["num_labels"]) == ("per_class", "labelled", "dev_all", 100)
    assert len(row["pool_prior"]) == 10 and sum(row["pool_prior"]) == pytest.approx(1.0, abs=1e-3)
    assert row["predicted_share_final"] == [0.2] * 5 + [0.0] * 5


def test_the_final_step_and_the_speed_are_shown_beside_the_best_step():
    rows = [{**result("noisy_student", seed, 0.70 + seed / 100), "test_accuracy_final": 0.68,
             "test_macro_f1_final": 0.66, "texts_per_second": 100.0 * (seed + 1)} for seed in (0, 1)]
    line = accuracy.table(rows).splitlines()[-1]
    assert line.startswith("| noisy_student data.labels_per_class=10 | 0,1 | 0.705 ± 0.007 | 0.680 ± 0.000 "
                           "| 0.605 ± 0.007 | 0.660 ± 0.000 |")
    assert line.endswith("| 150 |")


def test_a_row_names_the_built_in_body_and_the_teacher_under_written_folders(tmp_path):
    encoder = tmp_path / "pretrained" / "pairs" / "model"  # as `textssl pretrain` writes it
    encoder.mkdir(parents=True)
    (encoder / "config.json").write_text("{}")
    (encoder / "textssl_pretrain.json").write_text('{"base_model": "mpnet-base", "objective": "labelled_pairs"}')
    teacher = tmp_path / "teacher"
    (teacher / "model").mkdir(parents=True)
    (teacher / "model" / "config.json").write_text("{}")
    (teacher / "config.yaml").write_text(f"model: {{name: {encoder}}}\nalgorithm: {{name: pseudo_label}}\n")
    assert accuracy.body_of(str(encoder)) == "mpnet-base"
    assert accuracy.body_of(str(teacher / "model")) == accuracy.body_of(str(teacher)) == "mpnet-base"
    assert accuracy.body_of("minilm-l6") == "minilm-l6"
    assert accuracy.teacher_of(str(teacher)) == "mpnet-base/setfit_pseudo_label"
    assert accuracy.teacher_of("") is None


def test_grid_values_split_at_commas_outside_brackets():
    assert accuracy.grid_axis("train.max_steps=600,1500") == ["train.max_steps=600", "train.max_steps=1500"]
    assert accuracy.grid_axis("views.augment=[randaugment:n=2,m=5],[cutout]") == [
        "views.augment=[randaugment:n=2,m=5]", "views.augment=[cutout]"]


def test_a_seed_placeholder_becomes_the_runs_seed():
    assert accuracy.for_seed("model.name=pretrained/pairs-seed{seed}/model", 3) == "model.name=pretrained/pairs-seed3/model"
    assert accuracy.for_seed("train.max_steps=400", 3) == "train.max_steps=400"
    key = accuracy.run_key("recipes/text/pseudo_label.yaml", 1, ("model.name=pretrained/pairs-seed{seed}/model",))
    assert accuracy.run_folder_name(key, 1) == "pseudo_label_seed-1_model.name-pretrained+pairs-seed1+model"


def test_a_taught_run_names_the_folder_of_its_teachers_run_of_the_same_seed_and_grid(tmp_path):
    overrides = ("data.dataset=rotten_tomatoes_80_20", "model.name=pretrained/pairs-seed{seed}/model")
    override = accuracy.taught_by("recipes/text/mpnet_head.yaml", 3, overrides, tmp_path)
    teacher_folder = tmp_path / accuracy.run_folder_name(accuracy.run_key("mpnet_head.yaml", 3, overrides), 3)
    assert override == f"algorithm.teacher={teacher_folder}"
    assert teacher_folder.name.endswith("pairs-seed3+model")


def test_a_long_run_name_is_cut_to_a_name_the_file_system_takes_and_stays_apart_from_its_neighbours():
    long = "setfit_pseudo_label seed={seed} model.name=pretrained/" + "x" * 200 + "/model data.prior="
    names = {accuracy.run_folder_name(long + prior, 0) for prior in ("estimated", "labelled")}
    assert len(names) == 2 and all(len(name) == accuracy.NAME_LIMIT for name in names)
    assert accuracy.run_folder_name(long + "labelled", 0) in names  # the same run, the same folder


def test_a_row_from_before_the_dataset_was_recorded_pairs_with_any_dataset():
    old = result("supervised", 0, 0.60)  # no `dataset` field
    new = {**result("softmatch", 0, 0.62), "dataset": "rotten_tomatoes"}
    lines = {line.split(" | ")[0]: line for line in accuracy.table([old, new]).splitlines()[2:]}
    assert "| +0.020 |" in lines["| softmatch data.labels_per_class=10"]


def test_the_figure_has_a_panel_per_label_count_and_a_bar_per_run_at_its_mean():
    rows = [result("supervised", 0, 0.60), result("supervised", 1, 0.70),
            result("fixmatch", 0, 0.64), result("fixmatch", 1, 0.76),
            {**result("supervised", 0, 0.80), "overrides": ["data.labels_per_class=50"]}]
    axes = accuracy.accuracy_figure(rows).axes
    assert [axis.get_title() for axis in axes] == ["the recipe's dataset, 10 labels per class",
                                                   "the recipe's dataset, 50 labels per class"]
    bars = {label.get_text(): patch.get_width() for label, patch in zip(axes[0].get_yticklabels(), axes[0].patches)}
    assert bars == pytest.approx({"supervised": 0.65, "fixmatch": 0.70})
    assert [patch.get_width() for patch in axes[1].patches] == pytest.approx([0.80])


def test_the_report_adds_the_table_against_setfit_once_a_setfit_row_is_there():
    rows = [result("supervised", 0, 0.60), result("fixmatch", 0, 0.62)]
    assert accuracy.report(rows) == accuracy.table(rows)
    rows.append(result("setfit", 0, 0.63))
    against_setfit = accuracy.report(rows).split("\n\n")[1]
    assert against_setfit == accuracy.table(rows, "setfit") and "| -0.010 |" in against_setfit.splitlines()[3]


def test_rows_with_a_protocol_get_its_table_with_the_mean_predicted_shares():
    def protocol_row(seed: int, shares: list[float], prior: str = "estimated", *overrides: str) -> dict:
        return {**result("pseudo_label", seed, 0.8, *overrides), "pool_prior": [0.2, 0.8], "draw": "per_class",
                "prior": prior, "selection": "dev_10", "predicted_share": shares, "predicted_share_final": [0.5, 0.5]}

    guarded = ("data.dataset=rotten_tomatoes_80_20",)  # where the guard kept seed 2's own decision
    text = accuracy.report([result("supervised", 0, 0.7), protocol_row(0, [0.1, 0.9]), protocol_row(1, [0.3, 0.7]),
                            protocol_row(0, [0.2, 0.8], "estimated", *guarded),
                            protocol_row(1, [0.2, 0.8], "estimated", *guarded),
                            protocol_row(2, [0.2, 0.8], "labelled", *guarded)])
    protocol = text.split("\n\n")[-1].splitlines()
    assert protocol[0].startswith("| run | seeds | draw | prior | selection | pool's shares")
    assert protocol[2] == ("| pseudo_label data.labels_per_class=10 | 0,1 | per_class | estimated | dev_10 | 0.20 / 0.80 | 0.20 / 0.80 "
                           "| 0.50 / 0.50 |")
    assert protocol[3].startswith("| pseudo_label data.labels_per_class=10 data.dataset=rotten_tomatoes_80_20 | 0,1,2 | per_class "
                                  "| estimated (2), labelled (1) | dev_10 |")
    assert len(protocol) == 4  # the row without a protocol has none


def test_runs_that_estimate_the_pool_prior_get_the_gain_over_the_labelled_prior_paired_by_seed():
    def estimating(seed: int, accuracy: float, labelled: dict | None, shares: list[float]) -> dict:
        return {**result("pseudo_label", seed, accuracy, "data.prior=estimated"), "pool_prior": [0.2, 0.8],
                "draw": "per_class", "prior": "estimated" if labelled else "labelled", "selection": "dev_all",
                "predicted_share": shares, "predicted_share_final": shares, "test_accuracy": accuracy,
                "test_accuracy_final": accuracy, "test_macro_f1": 0.6,
                "test_macro_f1_final": 0.6, "test_labelled_prior": labelled, "test_final_labelled_prior": labelled}

    moved = estimating(0, 0.78, {"accuracy": 0.70, "macro_f1": 0.62}, [0.18, 0.82])
    kept = estimating(1, 0.80, None, [0.45, 0.55])  # its estimate was kept out: no change
    table = accuracy.report([moved, kept]).split("\n\n")[-1].splitlines()
    assert table[0].startswith("| run | seeds | moved | labelled side | majority rate | seeds at or above it "
                               "| accuracy, pool's prior")
    cells = [cell.strip() for cell in table[2].split("|")[1:-1]]
    # seed 1 (0.80) reaches the majority rate, seed 0 (0.78) does not
    assert cells[1:12] == ["0,1", "1", "the same models", "0.800", "1/2", "0.790", "0.750", "+0.040", "0.600",
                           "0.610", "-0.010"]
    assert cells[15:] == ["0.135 / 0.250", "0.135 / 0.250"]
    # A run with data.prior=labelled (which also aligns to the labelled prior) is the labelled side when there.
    partners = [{**result("pseudo_label", seed, 0.65, "data.prior=labelled"), "test_accuracy": 0.65,
                 "test_accuracy_final": 0.65, "test_macro_f1": 0.5} for seed in (0, 1)]
    table = accuracy.report([moved, kept, *partners]).split("\n\n")[-1].splitlines()
    cells = [cell.strip() for cell in table[2].split("|")[1:-1]]
    assert cells[3:12] == ["its own run", "0.800", "1/2", "0.790", "0.650", "+0.140", "0.600", "0.500", "+0.100"]

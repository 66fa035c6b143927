"""Bad input reaches the user as one line naming what is wrong, with no traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from textssl.cli import main
from tests.conftest import sentiment_rows


def fails_with_one_line(capsys, *argv: str, command: str = "train") -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([command, *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err  # progress bars of the data loading may come first
    errors = [line for line in err.splitlines() if line.startswith("textssl: error: ")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err, err
    return errors[0]


def csv_args(path, *extra: str) -> list[str]:
    return [f"data.dataset={path}", "data.text_column=review", "data.label_column=sentiment", *extra]


def test_missing_file(capsys, tmp_path):
    assert "nothing.csv" in fails_with_one_line(capsys, *csv_args(tmp_path / "nothing.csv"))


def test_wrong_column(capsys, sentiment_csv):
    line = fails_with_one_line(capsys, f"data.dataset={sentiment_csv}", "data.label_column=sentiment")
    assert "no column 'text'" in line and "review" in line


def test_labels_outside_the_label_set(capsys, tmp_path, sentiment_csv):
    dev = tmp_path / "dev.jsonl"
    dev.write_text("\n".join(json.dumps({"review": "fine", "sentiment": s}) for s in ["pos", "meh"]))
    assert "['meh']" in fails_with_one_line(capsys, *csv_args(sentiment_csv, f"data.dev_file={dev}"))


def test_empty_texts(capsys, tmp_path):
    frame = sentiment_rows(20, seed=1)
    frame.loc[3, "review"] = ""
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    assert "row 4 has an empty text" in fails_with_one_line(capsys, *csv_args(tmp_path / "gaps.csv"))


def test_unknown_recipe_key(capsys, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("train:\n  max_step: 10\n")
    line = fails_with_one_line(capsys, str(recipe))
    assert "recipe.yaml" in line and "max_step" in line


def test_more_labels_per_class_than_exist(capsys, sentiment_csv):
    line = fails_with_one_line(capsys, *csv_args(sentiment_csv, "data.labels_per_class=1000"))
    assert "1000" in line


def test_unknown_model_offline_names_the_built_ins(capsys, sentiment_csv):
    line = fails_with_one_line(capsys, *csv_args(sentiment_csv, "model.name=no-such-org/no-such-model"))
    assert "no-such-org/no-such-model" in line and "minilm-l6" in line


def test_the_command_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "textssl", "train", f"data.dataset={tmp_path / 'x.csv'}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "x.csv" in result.stderr


def test_switching_the_method_of_a_recipe_is_one_line_naming_the_options_and_their_recipe(capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[1])
    line = fails_with_one_line(capsys, "recipes/text/setfit_pseudo_label.yaml", "algorithm.name=supervised")
    assert line.startswith("textssl: error: the method supervised does not take the option(s) algorithm.unsup_weight (line ")
    assert line.endswith(" in recipes/text/pseudo_label.yaml; remove them, or choose a method that takes them")


def test_rounds_flag_sets_the_methods_rounds(capsys, monkeypatch):
    import textssl.run

    monkeypatch.chdir(Path(__file__).parents[1])
    ran = []
    monkeypatch.setattr(textssl.run, "run", lambda config: ran.append(config) or pytest.fail("stop here"))
    with pytest.raises(pytest.fail.Exception):
        main(["train", "recipes/text/mpnet_noisy_student.yaml", "--rounds", "2"])
    assert ran[0].algorithm.rounds == 2
    line = fails_with_one_line(capsys, "recipes/text/supervised.yaml", "--rounds", "2")
    assert line.startswith("textssl: error: the method supervised does not take the option(s) algorithm.rounds")

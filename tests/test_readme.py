"""The README's Python example runs as written; only its recipe is pointed at tiny data."""

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # trains, loads and evaluates a model

ROOT = Path(__file__).parents[1]


def python_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_example_trains_loads_and_evaluates(tmp_path, tiny_model, sentiment_csv, capsys, monkeypatch):
    example = python_example()
    recipe = re.search(r'textssl\.train\("([^"]+)"', example).group(1)
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump({
        "extends": str(ROOT / recipe),
        "data": {"dataset": str(sentiment_csv), "text_column": "review", "label_column": "sentiment",
                 "max_length": 16},
        "model": {"name": tiny_model},
        "train": {"output_dir": str(tmp_path / "run"), "batch_size": 8, "eval_batch_size": 64,
                  "learning_rate": 1e-3, "progress_bar": False}}))
    monkeypatch.chdir(tmp_path)
    exec(example.replace(f'"{recipe}"', f'"{tiny}"'), {})
    first, prediction, macro_f1 = capsys.readouterr().out.strip().splitlines()[-3:]
    accuracy, folder = first.split(" ", 1)
    assert 0.0 <= float(accuracy) <= 1.0 and folder == str(tmp_path / "run")
    assert "'label': 'pos'" in prediction and "'label': 'neg'" in prediction  # both classes, with scores
    assert 0.0 <= float(macro_f1) <= 1.0

"""The accuracy harness's table: mean ± std over seeds and the gain over supervised, paired by seed."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("accuracy", Path(__file__).parents[1] / "benchmarks" / "accuracy.py")
accuracy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(accuracy)


def result(recipe: str, seed: int, test_accuracy: float, *overrides: str) -> dict:
    return {"recipe": recipe, "seed": seed, "overrides": ["data.labels_per_class=10", *overrides],
            "test": {"accuracy": test_accuracy, "macro_f1": test_accuracy - 0.1, "majority_share": 0.6}}


def test_gain_is_paired_by_seed_and_a_control_is_compared_with_the_plain_baseline():
    rows = [result("supervised", 0, 0.60), result("supervised", 1, 0.50), result("supervised", 2, 0.70),
            result("fixmatch", 0, 0.62), result("fixmatch", 1, 0.53),  # seed 2 not run yet
            result("supervised", 0, 0.59, "algorithm.ema_decay=0.99")]
    lines = {line.split(" | ")[0]: line for line in accuracy.table(rows).splitlines()[2:]}
    assert lines["| supervised data.labels_per_class=10"].endswith("| 0.600 ± 0.100 | 0.500 ± 0.100 | 0.600 | — |")
    # paired: +0.02 and +0.03, although fixmatch's mean (0.575) is below supervised's (0.600)
    assert lines["| fixmatch data.labels_per_class=10"].endswith("| +0.025 ± 0.007 |")
    control = lines["| supervised data.labels_per_class=10 algorithm.ema_decay=0.99"]
    assert control.endswith("| 0.590 | 0.490 | 0.600 | -0.010 |")

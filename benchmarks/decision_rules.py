"""What each decision rule does to the models of finished runs, the rule forced whatever the guard says.

For every run folder given, the best model (its prior shift unfolded) labels the pool sample,
dev and test once (`prior_estimators.logits`). The pool's prior is estimated as under
`data.prior=estimated` (EM calibrated on all of dev, pooled with the labels drawn at random:
dev, and the labelled draw when it was random); the test split is then decided by:

- `kept`: the model's own argmax (the labelled prior: what the run does when the guard keeps it);
- `shares`: the offsets that give each class its estimated share of the pool;
- `bayes`: the calibrated posteriors re-weighted to the estimated prior.

Each row shows whether the guard moves the default rule (the estimate departs from the shares
the model predicts on the pool by more than three spreads), and per rule the test accuracy, macro-F1 and the first
class's predicted share, beside the majority rate:

    python benchmarks/decision_rules.py benchmarks/out/real_pools/*num_labels-20*prior-estimated \\
        --out benchmarks/results/decision_rules.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from prior_estimators import logits
from textssl.prior import estimate_shift, predicted_shares

RULES = ("kept", "shares", "bayes")
TITLE = ("Each decision rule forced on the models of finished runs, with the pool's prior estimated as under "
         "`data.prior=estimated`; written by `benchmarks/decision_rules.py`.")


def decided(seen: dict[str, np.ndarray]) -> tuple[bool, dict[str, np.ndarray]]:
    """Whether the guard moves the default (`shares`) decision, and the test predictions under each rule."""
    labelled_prior = seen["labelled"] / seen["labelled"].sum()
    predictions, shifts = {"kept": seen["test"].argmax(-1)}, {}
    for rule in RULES[1:]:
        shifts[rule] = estimate_shift(seen["pool"], labelled_prior, decision=rule, held_out_logits=seen["dev"],
                                      held_out_labels=seen["dev_labels"], observed=seen["random_counts"])
        predictions[rule] = shifts[rule].adjust(seen["test"]).argmax(-1)
    return shifts["shares"].departs_from(predicted_shares(seen["pool"])), predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/decision_rules.md"))
    parser.add_argument("--scratch", type=Path, default=Path("benchmarks/out/decision_rules"))
    args = parser.parse_args()
    header = " | ".join(f"{rule}: accuracy / macro-F1 / first share" for rule in RULES)
    lines = [TITLE, "", f"| run | draw | majority rate | guard moves | {header} |",
             "|---|---|---|---|" + "---|" * len(RULES)]
    for folder in args.runs:
        if not (folder / "metrics.json").is_file():
            print(f"{folder}: not a finished run, skipped", flush=True)
            continue
        name, seen = logits(folder, args.scratch, "data.prior=estimated")  # the labels drawn at random, counted as then
        truth = seen["test_labels"]
        moves, predictions = decided(seen)
        cells = [f"{(predicted == truth).mean():.3f} / {f1_score(truth, predicted, average='macro'):.3f} / "
                 f"{(predicted == 0).mean():.2f}" for predicted in predictions.values()]
        majority = np.bincount(truth).max() / len(truth)
        draw = "random" if seen["labels_at_random"] else "per_class"
        lines.append(f"| {name} | {draw} | {majority:.3f} | {'yes' if moves else 'no'} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""What each decision rule does to the models of finished runs, the rule forced whatever the guard says.

For every run folder given, the best model (its prior shift unfolded) labels the pool sample,
dev and test once (`prior_estimators.logits`). The pool's prior is estimated as under
`data.prior=estimated` (EM calibrated on all of dev, pooled with the labels drawn at random:
dev, and the labelled draw when it was random); the test split is then decided by:

- `kept`: the model's own argmax (the labelled prior: what the run does when the guard keeps it);
- `shares`: the offsets that give each class its estimated share of the pool;
- `bounded`: the nearest to `bayes` whose predicted shares of the pool stay within 3 points of the
  estimate (`data.share_tolerance`'s default);
- `bayes`: the calibrated posteriors re-weighted to the estimated prior.

Each row shows whether the guard moves the default rule (the estimate departs from the shares
the model predicts on the pool by more than three spreads), and per rule the test accuracy, macro-F1 and the first
class's predicted share, beside the majority rate. The models' logits are kept in the scratch folder,
so a second pass over the same runs takes seconds:

    python benchmarks/decision_rules.py benchmarks/out/real_pools/*num_labels-20*prior-estimated \\
        --out benchmarks/results/decision_rules.md
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import re
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from prior_estimators import logits
from textssl.config import DataConfig
from textssl.prior import estimate_prior, predicted_shares

RULES = ("kept", "shares", "bounded", "bayes")
TITLE = ("Each decision rule forced on the models of finished runs, with the pool's prior estimated as under "
         "`data.prior=estimated`; written by `benchmarks/decision_rules.py`.")


def decided(seen: dict[str, np.ndarray]) -> tuple[bool, dict[str, np.ndarray]]:
    """Whether the guard moves the default decision (`bounded`'s guard is `shares`'s), and the test
    predictions under each rule."""
    estimate = estimate_prior(seen["pool"], seen["labelled"] / seen["labelled"].sum(), held_out_logits=seen["dev"],
                              held_out_labels=seen["dev_labels"], observed=seen["random_counts"])
    shifts = {rule: estimate.shift(seen["pool"], rule, DataConfig.share_tolerance) for rule in RULES[1:]}
    predictions = {"kept": seen["test"].argmax(-1)} | {rule: shift.adjust(seen["test"]).argmax(-1)
                                                      for rule, shift in shifts.items()}
    return shifts["shares"].departs_from(predicted_shares(seen["pool"])), predictions


def cached_logits(folder: Path, scratch: Path) -> tuple[str, dict[str, np.ndarray]]:
    """`prior_estimators.logits` of the run in `folder`, with the labels drawn at random counted as under
    `data.prior=estimated`, computed once."""
    cache = scratch / "logits" / f"{hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:16]}.pkl"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(logits(folder, scratch, "data.prior=estimated")))
    return pickle.loads(cache.read_bytes())


def scores(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, float]:
    """Test accuracy, macro-F1, the first class's predicted share, and the farthest a class's predicted
    share fell from its true share."""
    classes = truth.max() + 1
    off = np.abs(np.bincount(predicted, minlength=classes) - np.bincount(truth, minlength=classes)).max() / len(truth)
    return (predicted == truth).mean(), f1_score(truth, predicted, average="macro"), (predicted == 0).mean(), off


def summary(rows: list[tuple[str, str, float, dict[str, tuple[float, float, float, float]]]]) -> list[str]:
    """Per run (its seeds together) and draw, each rule's mean accuracy, the seeds at or above the majority
    rate, the mean macro-F1, and the farthest a class's predicted share fell from its true share on test."""
    groups: dict[tuple[str, str], list] = {}
    for name, draw, majority, scored in rows:
        groups.setdefault((re.sub(r"_seed-\d+", "", name), draw), []).append((majority, scored))
    lines = ["| run | draw | seeds | majority rate | " + " | ".join(
        f"{rule}: accuracy (at majority) / macro-F1 / shares off" for rule in RULES) + " |",
        "|---|---|---|---|" + "---|" * len(RULES)]
    for (name, draw), members in groups.items():
        cells = []
        for rule in RULES:
            accuracy, macro_f1, _, off = np.array([scored[rule] for _, scored in members]).T
            majority = np.array([majority for majority, _ in members])
            cells.append(f"{accuracy.mean():.3f} ({(accuracy >= majority).sum()}) / {macro_f1.mean():.3f} / "
                         f"{off.max():.3f}")
        lines.append(f"| {name} | {draw} | {len(members)} | {members[0][0]:.3f} | {' | '.join(cells)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/decision_rules.md"))
    parser.add_argument("--scratch", type=Path, default=Path("benchmarks/out/decision_rules"))
    args = parser.parse_args()
    header = " | ".join(f"{rule}: accuracy / macro-F1 / first share" for rule in RULES)
    lines = [f"| run | draw | majority rate | guard moves | {header} |", "|---|---|---|---|" + "---|" * len(RULES)]
    runs = []
    for folder in args.runs:
        if not (folder / "metrics.json").is_file():
            print(f"{folder}: not a finished run, skipped", flush=True)
            continue
        name, seen = cached_logits(folder, args.scratch)
        truth = seen["test_labels"]
        moves, predictions = decided(seen)
        scored = {rule: scores(predicted, truth) for rule, predicted in predictions.items()}
        cells = [f"{accuracy:.3f} / {macro_f1:.3f} / {first:.2f}" for accuracy, macro_f1, first, _ in scored.values()]
        majority = np.bincount(truth).max() / len(truth)
        draw = "random" if seen["labels_at_random"] else "per_class"
        runs.append((name, draw, majority, scored))
        lines.append(f"| {name} | {draw} | {majority:.3f} | {'yes' if moves else 'no'} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join([TITLE, "", "Per run, over its seeds:", "", *summary(runs), "", "Per model:", "",
                                   *lines]) + "\n")


if __name__ == "__main__":
    main()

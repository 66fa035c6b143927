"""How well each source tells a pool's class shares, on the models of finished runs.

For every run folder given, the best model (its prior shift unfolded) labels the run's pool
sample, its dev split and its test split once; the estimates of the pool's prior are then
computed from those logits, as `textssl.prior.estimate_shift` would:

- `model, dev_all`: EM on the model's posteriors, calibrated on all of dev (the model alone);
- `pooled, dev_all`: the same pooled with the dev labels' shares (dev as given is a random
  sample: today's estimate under `data.prior=estimated`);
- `model, dev_N`: the model alone, calibrated on N dev labels per class (three draws), which
  is all a per-class dev set allows.

Each is shown beside the pool's true shares and the model's balanced test accuracy, as the
largest class share's error (points) and the estimate of the first class:

    python benchmarks/prior_estimators.py benchmarks/out/real_pools/*_80_20_*prior-labelled \\
        --out benchmarks/results/prior_estimators.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from textssl.engine.evaluation import outputs
from textssl.prior import PriorShift, estimate_shift
from textssl.recipe import load_config
from textssl.run import build_run


TITLE = ("The pool's prior from the model alone (EM, calibrated on dev), pooled with the dev labels drawn at "
         "random, and from the model calibrated on a few dev labels per class (three draws); written by "
         "`benchmarks/prior_estimators.py`.")


def logits(folder: Path, scratch: Path, *overrides: str) -> tuple[str, dict[str, np.ndarray]]:
    """The run's name and its best model's logits on the pool sample, dev and test, its config
    changed by `overrides`."""
    config = load_config(folder / "config.yaml", [f"train.output_dir={scratch}", "train.progress_bar=false",
                                                  *overrides])
    run = build_run(config)
    run.trainer.backbone.load_weights(folder / "model")
    shift = PriorShift.read(folder / "model")
    if shift:
        shift.unfold_from(run.trainer.model, run.task.num_classes)
    model, accelerator = run.trainer.model, run.trainer.accelerator
    dev, dev_labels = outputs(model, run.dev_loader, accelerator)
    test, test_labels = outputs(model, run.test_loader, accelerator)
    run_name = (f"{folder.parent.name.split('_data.')[0]} {folder.name}" if folder.name.startswith("round-")
                else folder.name.split('_data.')[0])
    name = f"{run_name}, {config.data.dataset}, data.prior={config.data.prior}"
    return name, {"pool": outputs(model, run.pool_sample, accelerator)[0], "dev": dev, "dev_labels": dev_labels,
                  "test": test, "test_labels": test_labels,
                  "labelled": np.bincount(run.task.data.labelled["label"], minlength=run.task.num_classes),
                  "labels_at_random": config.data.labels_at_random, "random_counts": run.task.data.random_counts}


def estimates(seen: dict[str, np.ndarray], per_class: int, draws: int = 3) -> dict[str, list[np.ndarray]]:
    labelled_prior = seen["labelled"] / seen["labelled"].sum()
    dev, labels = seen["dev"], seen["dev_labels"]

    def shift(rows: np.ndarray, at_random: bool) -> np.ndarray:
        observed = np.bincount(labels[rows], minlength=dev.shape[1]) if at_random else None
        return np.array(estimate_shift(seen["pool"], labelled_prior, held_out_logits=dev[rows],
                                       held_out_labels=labels[rows], observed=observed).pool_prior)

    everyone = np.arange(len(labels))
    few = [np.concatenate([np.random.default_rng(draw).choice(np.flatnonzero(labels == label), per_class,
                                                              replace=False) for label in np.unique(labels)])
           for draw in range(draws)]
    return {"model, dev_all": [shift(everyone, False)], "pooled, dev_all": [shift(everyone, True)],
            f"model, dev_{per_class}": [shift(rows, False) for rows in few]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--dev-per-class", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/prior_estimators.md"))
    parser.add_argument("--scratch", type=Path, default=Path("benchmarks/out/prior_estimators"))
    args = parser.parse_args()
    lines = [TITLE, "", "| run | balanced test accuracy | pool's shares | estimate | first class's share "
             "| largest error, points |", "|---|---|---|---|---|---|"]
    for folder in args.runs:
        if not (folder / "metrics.json").is_file():
            print(f"{folder}: not a finished run, skipped", flush=True)
            continue
        name, seen = logits(folder, args.scratch)
        truth = np.bincount(seen["test_labels"]) / len(seen["test_labels"])
        predicted = seen["test"].argmax(-1)
        balanced = np.mean([(predicted[seen["test_labels"] == label] == label).mean() for label in range(len(truth))])
        for source, found in estimates(seen, args.dev_per_class).items():
            errors = [100 * np.abs(estimate - truth).max() for estimate in found]
            lines.append(f"| {name} | {balanced:.3f} | {' / '.join(f'{share:.2f}' for share in truth)} | {source} "
                         f"| {', '.join(f'{estimate[0]:.3f}' for estimate in found)} "
                         f"| {', '.join(f'{error:.1f}' for error in errors)} |")
        print("\n".join(lines[-3:]), flush=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

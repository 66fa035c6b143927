"""What aligning to the pool's class prior changes when the labelled draw is balanced and the
pool is not.

Rotten Tomatoes with every split cut down to `--minority` of one class (default: 20 % rotten,
where the built-in data has 42 %), so the pool and the test set share a prior the balanced
labelled draw does not. Pseudo-labelling (recipes/text/pseudo_label.yaml) in the cached-feature
mode aligns its targets to the labelled draw's 50 / 50, to the pool's prior as the recipe gives
it, or to the prior EM estimates from the predictions; `supervised` is the reference.

    python benchmarks/class_prior.py --seeds 0 1 2 3 4 --results benchmarks/results/class_prior.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np

import textssl
from textssl.data import load_splits
from textssl.config import DataConfig

RECIPES = Path(__file__).parents[1] / "recipes" / "text"
HEAD = ["model.cached_features=true", "train.learning_rate=1e-3", "train.max_steps=400", "train.eval_every=50",
        "train.save_every=400", "train.progress_bar=false"]
VARIANTS = {
    "supervised": ("supervised.yaml", []),
    "pseudo_label, aligned to the labelled draw (50 / 50)": ("pseudo_label.yaml", ["algorithm.alignment_prior=labelled"]),
    "pseudo_label, aligned to the pool's prior (given)": ("pseudo_label.yaml", ["algorithm.alignment_prior=pool"]),
    "pseudo_label, aligned to the pool's prior (EM estimate)": ("pseudo_label.yaml",
                                                                ["algorithm.alignment_prior=pool",
                                                                 "algorithm.alignment_momentum=0.99"]),
}


def skewed_splits(folder: Path, minority: float, seed: int = 0) -> dict[str, Path]:
    """The built-in splits with `rotten` cut down to `minority` of each, written as CSV files."""
    splits, rng, files = load_splits(DataConfig()), np.random.default_rng(seed), {}
    for name, split in splits.items():
        frame = split.to_pandas()
        frame["label"] = [split.features["label"].names[i] for i in frame["label"]]
        majority = frame[frame["label"] != "rotten"]
        keep = round(len(majority) * minority / (1 - minority))
        minority_rows = frame[frame["label"] == "rotten"].iloc[rng.permutation(keep)]
        files[name] = folder / f"{name}.csv"
        frame.loc[sorted([*majority.index, *minority_rows.index])].to_csv(files[name], index=False)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--minority", type=float, default=0.2, help="share of `rotten` in every split")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/class_prior.jsonl"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        files = skewed_splits(Path(folder), args.minority)
        data = [f"data.dataset={files['train']}", f"data.dev_file={files['dev']}", f"data.test_file={files['test']}"]
        names = load_splits(textssl.load_config(None, data).data)["train"].features["label"].names
        shares = [args.minority if name == "rotten" else 1 - args.minority for name in names]
        data.append(f"data.class_prior=[{shares[0]},{shares[1]}]")
        rows = []
        for seed in args.seeds:
            for variant, (recipe, options) in VARIANTS.items():
                result = textssl.train(RECIPES / recipe, *data, *HEAD, *options, f"train.seed={seed}",
                                       f"train.output_dir={Path(folder) / 'runs' / f'{len(rows)}'}")
                test = result.metrics["test"]
                rows.append({"variant": variant, "seed": seed, "minority": args.minority, **test})
                print(json.dumps(rows[-1]), flush=True)
    args.results.write_text("".join(json.dumps(row) + "\n" for row in rows))

    lines = [f"Pool, dev and test {100 * (1 - args.minority):.0f} % fresh / {100 * args.minority:.0f} % rotten; "
             f"10 labels per class (50 / 50); cached-feature mode; seeds {', '.join(map(str, args.seeds))}.", "",
             "| run | test accuracy | test macro-F1 | largest predicted class |", "|---|---|---|---|"]
    for variant in VARIANTS:
        chosen = [row for row in rows if row["variant"] == variant]

        def spread(key: str) -> str:
            values = [row[key] for row in chosen]
            return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"

        lines.append(f"| {variant} | {spread('accuracy')} | {spread('macro_f1')} | {spread('majority_share')} |")
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

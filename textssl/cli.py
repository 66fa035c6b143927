"""`textssl train [RECIPE.yaml] [section.key=value ...]`, `textssl pretrain [RECIPE.yaml] [...]`,
`textssl report RUN`, `textssl list`."""

from __future__ import annotations

import argparse
import json
import sys

from textssl.errors import TextsslError


def _recipe_and_overrides(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """The recipe may be left out: then the first argument is already an override."""
    recipe, overrides = args.recipe, list(args.overrides)
    if recipe is not None and "=" in recipe and not recipe.endswith((".yaml", ".yml")):
        recipe, overrides = None, [recipe, *overrides]
    return recipe, overrides


def _train(args: argparse.Namespace) -> None:
    from textssl.recipe import load_config
    from textssl.run import run

    config = load_config(*_recipe_and_overrides(args))
    metrics = run(config)
    print(json.dumps({"output_dir": str(config.output_dir), "best_step": metrics["best_step"],
                      "dev": metrics["dev"], "test": metrics["test"]}, indent=2))


def _pretrain(args: argparse.Namespace) -> None:
    from textssl.pretrain import pretrain
    from textssl.recipe import load_pretrain_config

    folder = pretrain(load_pretrain_config(*_recipe_and_overrides(args)))
    print(json.dumps({"model": str(folder), "use_with": f"model.name={folder}"}, indent=2))


def _report(args: argparse.Namespace) -> None:
    from textssl.report import report

    print(report(args.run_folder))


def _list(args: argparse.Namespace) -> None:
    from textssl.algorithms import ALGORITHMS
    from textssl.data import BUILTIN_DATASETS
    from textssl.models import BUILTIN_MODELS, IMAGE_MODEL_NAMES

    print("datasets:  ", ", ".join(BUILTIN_DATASETS), "(or a CSV/JSON/JSONL/Parquet file, or a Hub dataset)")
    print("models:    ", ", ".join([*BUILTIN_MODELS, *IMAGE_MODEL_NAMES]), "(or a Hub id / local model folder)")
    print("algorithms:", ", ".join(ALGORITHMS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="textssl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a classifier from a recipe")
    train.add_argument("recipe", nargs="?", help="YAML recipe (default: the built-in default run)")
    train.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.max_steps=200")
    train.set_defaults(run=_train)
    pretraining = commands.add_parser("pretrain", help="pretrain a text encoder on the pool's texts (in-domain)")
    pretraining.add_argument("recipe", nargs="?", help="YAML recipe with data, model, views and pretrain sections")
    pretraining.add_argument("overrides", nargs="*", help="section.key=value, e.g. pretrain.objective=mlm")
    pretraining.set_defaults(run=_pretrain)
    reporting = commands.add_parser("report", help="a run's training dynamics as a table")
    reporting.add_argument("run_folder", metavar="RUN", help="the run folder (train.output_dir) or its metrics.jsonl")
    reporting.set_defaults(run=_report)
    listing = commands.add_parser("list", help="built-in datasets, models and algorithms")
    listing.set_defaults(run=_list)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except TextsslError as error:
        print(f"textssl: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""`textssl train [RECIPE.yaml] [section.key=value ...]`, `textssl pretrain [RECIPE.yaml] [...]`,
`textssl evaluate RUN`, `textssl predict RUN INPUT`, `textssl push RUN --repo-id NAME`,
`textssl report RUN`, `textssl list`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from textssl.errors import TextsslError

TRUSTING = "run the model's own code, for a run whose recipe set model.trust_remote_code (trust it first)"


def _recipe_and_overrides(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """The recipe may be left out: then the first argument is already an override."""
    recipe, overrides = args.recipe, list(args.overrides)
    if recipe is not None and "=" in recipe and not recipe.endswith((".yaml", ".yml")):
        recipe, overrides = None, [recipe, *overrides]
    return recipe, overrides


def _train(args: argparse.Namespace) -> None:
    from textssl.recipe import load_config
    from textssl.run import rounds, run

    recipe, overrides = _recipe_and_overrides(args)
    config = load_config(recipe, overrides + ([f"algorithm.rounds={args.rounds}"] if args.rounds else []))
    metrics = run(config)
    print(json.dumps({"output_dir": str(rounds(config)[-1].output_dir), "best_step": metrics["best_step"],
                      "dev": metrics["dev"], "test": metrics["test"],
                      "test_final": metrics["test_final"]}, indent=2))


def _pretrain(args: argparse.Namespace) -> None:
    from textssl.pretrain import pretrain
    from textssl.recipe import load_pretrain_config

    folder = pretrain(load_pretrain_config(*_recipe_and_overrides(args)))
    print(json.dumps({"model": str(folder), "use_with": f"model.name={folder}"}, indent=2))


def _evaluate(args: argparse.Namespace) -> None:
    from textssl.atomic import write_whole
    from textssl.inference import evaluate, evaluation_table

    result = evaluate(args.target, args.data, args.split, trust_remote_code=args.trust_remote_code)
    print(evaluation_table(result))
    if args.json:
        write_whole(Path(args.json), json.dumps(result, indent=2) + "\n")


def _predict(args: argparse.Namespace) -> None:
    from textssl.inference import load_classifier, predictions_table, read_inputs, write_table

    model = load_classifier(args.target, args.trust_remote_code)
    inputs = read_inputs(args.input, args.column, model.input_column)
    write_table(predictions_table(model, inputs, args.batch_size, progress=args.out is not None), args.out)


def _push(args: argparse.Namespace) -> None:
    from textssl.push import push

    print(push(args.run_folder, args.repo_id, args.private, args.dry_run, Path(args.out) if args.out else None))


def _report(args: argparse.Namespace) -> None:
    from textssl.report import report, write_report

    print(report(args.run_folder))
    print(f"wrote {write_report(args.run_folder)}, with its figures beside it")


def _list(args: argparse.Namespace) -> None:
    from textssl.algorithms import ALGORITHMS
    from textssl.data import BUILTIN_DATASETS
    from textssl.models import BACKBONES

    print("datasets:  ", ", ".join(BUILTIN_DATASETS), "(or a CSV/JSON/JSONL/Parquet file, or a Hub dataset)")
    print("models:    ", ", ".join(name for kind in BACKBONES.values() for name in kind.names),
          "(or a Hub id / local model folder)")
    print("algorithms:", ", ".join(ALGORITHMS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="textssl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a classifier from a recipe")
    train.add_argument("recipe", nargs="?", help="YAML recipe (default: the built-in default run)")
    train.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.max_steps=200")
    train.add_argument("--rounds", type=int, metavar="R",
                       help="for a method trained in rounds (noisy_student): R rounds, each round's student "
                            "teaching the next (algorithm.rounds=R)")
    train.set_defaults(run=_train)
    pretraining = commands.add_parser("pretrain", help="pretrain a text encoder on the pool's texts (in-domain)")
    pretraining.add_argument("recipe", nargs="?", help="YAML recipe with data, model, views and pretrain sections")
    pretraining.add_argument("overrides", nargs="*", help="section.key=value, e.g. pretrain.objective=mlm")
    pretraining.set_defaults(run=_pretrain)
    evaluating = commands.add_parser("evaluate", help="accuracy, macro-F1, per-class scores and confusion matrix")
    evaluating.add_argument("target", metavar="RUN_OR_MODEL", help="a run folder or a saved model folder")
    evaluating.add_argument("--data", help="a built-in or Hub dataset, or a file (scored whole); default: the run's")
    evaluating.add_argument("--split", default="test", help="the split of a dataset (default: test)")
    evaluating.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    evaluating.add_argument("--trust-remote-code", action="store_true", help=TRUSTING)
    evaluating.set_defaults(run=_evaluate)
    predicting = commands.add_parser("predict", help="label new texts (or images) with class probabilities")
    predicting.add_argument("target", metavar="RUN_OR_MODEL", help="a run folder or a saved model folder")
    predicting.add_argument("input", metavar="INPUT", help=".txt/.csv/.json/.jsonl/.parquet, - for lines on stdin, "
                                                          ".npy for images")
    predicting.add_argument("--out", help=".csv, .jsonl or .parquet (default: JSON lines on stdout)")
    predicting.add_argument("--column", help="the text column of a table file (default: text)")
    predicting.add_argument("--batch-size", type=int, default=64)
    predicting.add_argument("--trust-remote-code", action="store_true", help=TRUSTING)
    predicting.set_defaults(run=_predict)
    reporting = commands.add_parser("report", help="a run's training dynamics as a table, and report.md with plots")
    reporting.add_argument("run_folder", metavar="RUN", help="the run folder (train.output_dir) or its metrics.jsonl")
    reporting.set_defaults(run=_report)
    pushing = commands.add_parser("push", help="the model, its recipe, metrics and a model card to the Hub")
    pushing.add_argument("run_folder", metavar="RUN", help="a finished run folder (train.output_dir)")
    pushing.add_argument("--repo-id", required=True, help="the Hub repository, e.g. your-name/rotten-tomatoes-minilm")
    pushing.add_argument("--private", action="store_true", help="create the repository private")
    pushing.add_argument("--dry-run", action="store_true", help="write the folder that would be uploaded; upload nothing")
    pushing.add_argument("--out", help="with --dry-run: where to write it (default: RUN/hub_upload)")
    pushing.set_defaults(run=_push)
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

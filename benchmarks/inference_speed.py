"""Inference speed of trained models side by side, on one machine in one sitting.

Each model labels the same test texts with an empty feature cache (a head over cached
embeddings must encode every text, as it would for a new text), the models in turn, repeated;
the table gives each model's median texts per second and its ratio to the first model's, the
figure a shared machine keeps (absolute speeds move with its load):

    python benchmarks/inference_speed.py RUN_A RUN_B [...] --texts 512 --repeats 3 \\
        --results benchmarks/results/inference_speed.md
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from accuracy import body_of, run_predictor, speed_sample, texts_per_second

from textssl.inference import run_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path, help="run folders or saved model folders")
    parser.add_argument("--names", nargs="*", default=[], help="a short name per model for the table")
    parser.add_argument("--dataset", default="rotten_tomatoes")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/inference_speed.md"))
    args = parser.parse_args()

    texts = speed_sample(args.dataset, args.texts)
    speeds: dict[Path, list[float]] = {model: [] for model in args.models}
    for _ in range(args.repeats):
        for model in args.models:
            speeds[model].append(texts_per_second(lambda model=model: run_predictor(model), texts))
    first = statistics.median(speeds[args.models[0]])
    lines = [f"{args.texts} test texts of {args.dataset}, empty feature cache, {args.repeats} turns, "
             f"{os.cpu_count()} CPU cores", "",
             "| model | body | method | texts/s (median) | texts/s, each turn | speed / first |", "|---|---|---|---|---|---|"]
    names = dict(zip(args.models, args.names))
    for model, measured in speeds.items():
        config = run_config(model) or {}
        method = config.get("algorithm", {}).get("name", "—")
        body = body_of(config["model"]["name"]) if config else "—"
        lines.append(f"| {names.get(model, model)} | {body} | {method} | {statistics.median(measured):.1f} "
                     f"| {', '.join(f'{value:.1f}' for value in measured)} | {statistics.median(measured) / first:.2f}× |")
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()

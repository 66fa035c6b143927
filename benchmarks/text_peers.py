"""What a user would pick instead of textssl, on textssl's own splits and labelled draws.

Every peer sees exactly what a textssl run with the same seed sees: the built-in dataset's
train / dev / test splits, the labelled examples `sample_labelled` draws for the seed, and the
rest of the training pool as unlabelled texts. The body is `--model` (MiniLM-L6 by default, or
mpnet-base); rows of another body carry `model.name=...` in their key.

- `setfit`: the setfit library (`pip install -e .[bench]`), that body, its defaults (one epoch of contrastive pairs,
  then a logistic-regression head) with `--setfit-iterations` pair iterations.
- `logreg`: scikit-learn logistic regression on the frozen, mean-pooled embeddings.
- `label_spreading`: scikit-learn `LabelSpreading` (kNN graph, k = 10) over labelled + pool.
- `self_training`: scikit-learn `SelfTrainingClassifier` around that logistic regression.

Rows go to the same JSON-lines format as `accuracy.py` (keyed `peer seed=S
data.labels_per_class=N`), so textssl rows run with `accuracy.py --results` on the same file
share one table, paired by seed with `supervised` and with `setfit`. A peer makes no choice on
dev, so its final-step figures are its only ones; `texts_per_second` times its labelling of
`--speed-texts` test texts, encoding included:

    python benchmarks/text_peers.py --seeds 0 1 2 3 4 --labels-per-class 10 50 [--model mpnet-base] \\
        --results benchmarks/results/text_peers.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from accuracy import accuracy_figure, load_results, report, texts_per_second
from datasets import Dataset
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

from textssl.config import DataConfig
from textssl.data import load_splits, sample_labelled
from textssl.engine.evaluation import classification_metrics
from textssl.models.features import SentenceEncoder
from textssl.models.hf import BUILTIN_MODELS, resolve_model_path

PEERS = ("setfit", "logreg", "label_spreading", "self_training")
DEFAULT_MODEL = "minilm-l6"


def setfit_model(body: str, texts: list[str], labels: np.ndarray, seed: int, iterations: int):
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(resolve_model_path(body))
    with tempfile.TemporaryDirectory() as folder:
        arguments = TrainingArguments(output_dir=folder, num_iterations=iterations, seed=seed, report_to="none",
                                      show_progress_bar=False, save_strategy="no")
        Trainer(model=model, args=arguments,
                train_dataset=Dataset.from_dict({"text": texts, "label": labels.tolist()})).train()
    return model


def embedding_peer(method: str, labelled: np.ndarray, labels: np.ndarray, pool: np.ndarray):
    if method == "logreg":
        model = LogisticRegression(max_iter=1000).fit(labelled, labels)
    else:
        inputs = np.concatenate([labelled, pool])
        targets = np.concatenate([labels, np.full(len(pool), -1)])
        model = (LabelSpreading(kernel="knn", n_neighbors=10) if method == "label_spreading"
                 else SelfTrainingClassifier(LogisticRegression(max_iter=1000))).fit(inputs, targets)
    return model


def frozen_body_predictor(model, body: str, max_length: int):
    encode = SentenceEncoder(body, max_length)
    return lambda texts: model.predict(encode(texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(PEERS), choices=PEERS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--labels-per-class", type=int, nargs="*", default=[10, 50])
    parser.add_argument("--num-labels", type=int, nargs="*", default=[],
                        help="also labelled draws of this many texts at random (data.num_labels)")
    parser.add_argument("--dataset", default="rotten_tomatoes")
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(BUILTIN_MODELS))
    parser.add_argument("--speed-texts", type=int, default=256, help="test texts timed per row (0: none)")
    parser.add_argument("--setfit-iterations", type=int, default=20,
                        help="pairs per labelled example and epoch (20 suits 20-100 labels)")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/text_peers.jsonl"))
    args = parser.parse_args()

    splits = load_splits(DataConfig(dataset=args.dataset))
    names = splits["train"].features["label"].names
    pool_labels = np.asarray(splits["train"]["label"])
    texts = {split: list(splits[split]["text"]) for split in splits}
    truth = {split: np.asarray(splits[split]["label"]) for split in ("dev", "test")}
    max_length = DataConfig().max_length
    encoder = SentenceEncoder(args.model, max_length)
    embedded = {split: encoder(split_texts) for split, split_texts in texts.items()}
    timed = texts["test"][:args.speed_texts]

    done = load_results(args.results)
    pool_prior = [round(float(share), 4) for share in np.bincount(pool_labels, minlength=len(names)) / len(pool_labels)]
    draws = [(per_class, None) for per_class in args.labels_per_class] + [(None, total) for total in args.num_labels]
    for seed in args.seeds:
        for per_class, total in draws:
            rows = sample_labelled(pool_labels, names, per_class=per_class, total=total, seed=seed)
            rest = np.setdiff1d(np.arange(len(pool_labels)), rows)
            overrides = ([f"data.labels_per_class={per_class}"] if per_class else
                         ["data.labels_per_class=null", f"data.num_labels={total}"])
            overrides += (([] if args.dataset == "rotten_tomatoes" else [f"data.dataset={args.dataset}"])
                         + ([] if args.model == DEFAULT_MODEL else [f"model.name={args.model}"]))
            for method in args.methods:
                key = " ".join([method, f"seed={seed}", *overrides])
                if key in done:
                    continue
                print(f"run: {key}", flush=True)
                started = time.time()
                if method == "setfit":
                    model = setfit_model(args.model, [texts["train"][i] for i in rows], pool_labels[rows], seed,
                                         args.setfit_iterations)
                    predicted = {s: np.asarray(model.predict(texts[s], batch_size=128)) for s in truth}
                    predictor = lambda: model.predict  # noqa: E731 (loaded: the body is in memory)
                else:
                    model = embedding_peer(method, embedded["train"][rows], pool_labels[rows], embedded["train"][rest])
                    predicted = {s: model.predict(embedded[s]) for s in truth}
                    predictor = lambda: frozen_body_predictor(model, args.model, max_length)  # noqa: E731
                seconds = round(time.time() - started, 1)
                speed = {"texts_per_second": texts_per_second(predictor, timed)} if timed else {}
                metrics = {s: classification_metrics(truth[s], predicted[s], len(names)) for s in truth}
                row = {"key": key, "recipe": method, "seed": seed, "overrides": overrides, "dataset": args.dataset,
                       "labels_per_class": per_class, "method": method, "model": args.model,
                       "pool_prior": pool_prior, "draw": "per_class" if per_class else "random",
                       "num_labels": len(rows), "prior": "labelled", "selection": "final",
                       "predicted_share": metrics["test"]["predicted_share"],
                       "predicted_share_final": metrics["test"]["predicted_share"],
                       "test_accuracy": metrics["test"]["accuracy"], "test_macro_f1": metrics["test"]["macro_f1"],
                       "test_accuracy_final": metrics["test"]["accuracy"],
                       "test_macro_f1_final": metrics["test"]["macro_f1"], **speed,
                       "seconds": seconds, **metrics,
                       "options": {"setfit_iterations": args.setfit_iterations} if method == "setfit" else {}}
                with args.results.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done[key] = row
    tables = report(list(done.values()))
    args.results.with_suffix(".md").write_text(tables + "\n")
    accuracy_figure(list(done.values())).savefig(args.results.with_suffix(".png"), dpi=100)
    print(tables)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()

"""Does the unlabelled pool's structure in MiniLM's embedding space follow the sentiment label?

Semi-supervised learning pays when examples close to each other (or to their
augmentations) share a label. This measures that on frozen MiniLM-L6 sentence embeddings
(mean-pooled, as sentence-transformers trained them, and the [CLS] token the classifier
head reads) of the Rotten Tomatoes training pool, with the labelled sets of the recipes
(10 per class, seeds 0-2):

- logistic regression on the labelled examples only, and on every label (the ceiling of
  a linear read-out of the frozen space);
- label spreading over a 10-nearest-neighbour graph of the whole pool;
- self-training: rounds of refitting on the labelled set plus the most confident share of
  each predicted class, with the accuracy of the pseudo-labels that round added.

    python benchmarks/embedding_structure.py --results benchmarks/results/embedding_structure.md
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import LabelSpreading
from tqdm.auto import tqdm
from transformers import AutoModel

from textssl.recipe import load_config
from textssl.data import sample_labelled
from textssl.data.sources import load_splits
from textssl.models.hf import load_pretrained

SELF_TRAINING_SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)


@torch.no_grad()
def embed(texts: list[str], tokenizer, model, max_length: int, batch_size: int = 128) -> dict[str, np.ndarray]:
    mean, cls = [], []
    for start in tqdm(range(0, len(texts), batch_size), desc="embedding"):
        encoded = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")
        hidden = model(**encoded).last_hidden_state
        weights = encoded["attention_mask"].unsqueeze(-1).float()
        mean.append(torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1))
        cls.append(hidden[:, 0])
    return {"mean-pooled": torch.cat(mean).numpy(), "[CLS]": torch.cat(cls).numpy()}


def fit(features: np.ndarray, labels: np.ndarray) -> LogisticRegression:
    return LogisticRegression(max_iter=2000).fit(features, labels)


def self_training(pool: np.ndarray, labels: np.ndarray, labelled: np.ndarray, test: np.ndarray,
                  test_labels: np.ndarray) -> list[tuple[float, float]]:
    """(pseudo-label accuracy, test accuracy) after each round of SELF_TRAINING_SHARES."""
    unlabelled = np.setdiff1d(np.arange(len(labels)), labelled)
    classifier, rounds = fit(pool[labelled], labels[labelled]), []
    for share in SELF_TRAINING_SHARES:
        probs = classifier.predict_proba(pool[unlabelled])
        predicted, confidence = probs.argmax(1), probs.max(1)
        per_class = int(share * len(unlabelled) / probs.shape[1])
        chosen = np.concatenate([
            members[np.argsort(-confidence[members])][:per_class]
            for members in (np.flatnonzero(predicted == c) for c in range(probs.shape[1]))])
        pseudo_accuracy = float((predicted[chosen] == labels[unlabelled][chosen]).mean())
        classifier = fit(np.concatenate([pool[labelled], pool[unlabelled][chosen]]),
                         np.concatenate([labels[labelled], predicted[chosen]]))
        rounds.append((pseudo_accuracy, classifier.score(test, test_labels)))
    return rounds


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labels-per-class", type=int, default=10)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()

    config = load_config("recipes/text/supervised.yaml")
    splits = load_splits(config.data)
    names = splits["train"].features["label"].names
    labels, test_labels = np.asarray(splits["train"]["label"]), np.asarray(splits["test"]["label"])
    tokenizer, model = load_pretrained(config.model.name, AutoModel, trust_remote_code=False)
    model.eval()
    pools = embed(splits["train"]["text"], tokenizer, model, config.data.max_length)
    tests = embed(splits["test"]["text"], tokenizer, model, config.data.max_length)

    lines = ["| embedding | read-out | test accuracy |", "|---|---|---|"]
    for kind, pool in pools.items():
        lines.append(f"| {kind} | logistic regression, every label ({len(labels)}) "
                     f"| {fit(pool, labels).score(tests[kind], test_labels):.3f} |")
        few, spread, rounds = [], [], []
        for seed in args.seeds:
            labelled = sample_labelled(labels, names, per_class=args.labels_per_class, seed=seed)
            few.append(fit(pool[labelled], labels[labelled]).score(tests[kind], test_labels))
            partial = np.full(len(labels), -1)
            partial[labelled] = labels[labelled]
            graph = LabelSpreading(kernel="knn", n_neighbors=10, alpha=0.99, max_iter=1000).fit(pool, partial)
            spread.append(graph.score(tests[kind], test_labels))
            rounds.append(self_training(pool, labels, labelled, tests[kind], test_labels))
        lines.append(f"| {kind} | logistic regression, {args.labels_per_class} per class | {mean_std(few)} |")
        lines.append(f"| {kind} | label spreading (10-NN graph of the pool) | {mean_std(spread)} |")
        for i, share in enumerate(SELF_TRAINING_SHARES):
            pseudo = [seed_rounds[i][0] for seed_rounds in rounds]
            tested = [seed_rounds[i][1] for seed_rounds in rounds]
            lines.append(f"| {kind} | self-training, top {share:.0%} of each predicted class "
                         f"(pseudo-labels {mean_std(pseudo)} right) | {mean_std(tested)} |")
    table = "\n".join(lines)
    print(table)
    if args.results:
        args.results.write_text(
            f"# Sentiment structure of frozen MiniLM-L6 embeddings (Rotten Tomatoes)\n\n"
            f"`python benchmarks/embedding_structure.py --results {args.results}`; seeds "
            f"{', '.join(map(str, args.seeds))}, mean ± std over seeds.\n\n{table}\n")


if __name__ == "__main__":
    main()

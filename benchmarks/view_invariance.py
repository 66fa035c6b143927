"""How much does each strong view change a trained model's prediction?

Consistency methods (UDA, FixMatch) teach a model to predict on a strong view what it
predicts on the review as it is. That teaches something only where the two predictions
differ, and only if the view keeps the label. For the labelled-only models the benchmark
saved (`benchmarks/out/supervised_*`), on a fixed sample of the Rotten Tomatoes pool,
this reports per strong-view source:

- the model's accuracy on the view (does the view keep the label?);
- how often its prediction on the view agrees with the one on the original, overall and
  where the original prediction passes the confidence threshold (what FixMatch trains on);
- the mean KL(p(original) || p(view)), UDA's consistency loss before sharpening.

    python benchmarks/view_invariance.py --results benchmarks/results/view_invariance.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from textssl.config import DataConfig, ViewsConfig
from textssl.data.sources import load_splits
from textssl.data.view_cache import augmented_views
from textssl.models.hf import load_pretrained

VIEWS = ("backtranslation:backend=apertium", "tfidf:p=0.3", "tfidf:p=0.7", "uniform:p=0.3")


@torch.no_grad()
def probabilities(tokenizer, model, texts: list[str], max_length: int = 64, batch_size: int = 256) -> torch.Tensor:
    out = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
        out.append(model(**encoded).logits.float().softmax(-1))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", type=Path,
                        default=sorted(Path("benchmarks/out").glob("supervised_seed-*_data.labels_per_class-*")))
    parser.add_argument("--views", nargs="*", default=list(VIEWS))
    parser.add_argument("--sample", type=int, default=2000, help="pool reviews scored")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/view_invariance.md"))
    args = parser.parse_args()
    if not args.models:
        parser.error("no models: run the benchmark first (docs/results.md, Results) or pass --models")

    pool = load_splits(DataConfig())["train"]
    rows = np.sort(np.random.default_rng(0).choice(len(pool), args.sample, replace=False))
    texts = pool.select_columns(["text"])
    original = texts.select(rows)["text"]
    labels = torch.as_tensor(pool.select(rows)["label"])
    views = {ops: [copies[0] for copies in augmented_views(texts, ViewsConfig(augment=[ops])).select(rows)["strong"]]
             for ops in args.views}

    lines = ["# How much each strong view changes a trained model's prediction (Rotten Tomatoes)", "",
             f"`python benchmarks/view_invariance.py --results {args.results}`; {args.sample} pool reviews, "
             f"labelled-only models of the benchmark (400 steps); confident: original prediction ≥ {args.threshold}.",
             "", "| model | view | accuracy on original / view | agreement: all / confident (share) | KL |",
             "|---|---|---|---|---|"]
    for model_dir in args.models:
        tokenizer, model = load_pretrained(str(model_dir / "model"), AutoModelForSequenceClassification,
                                           trust_remote_code=False)
        model.eval()
        p = probabilities(tokenizer, model, original)
        confident = p.max(1).values >= args.threshold
        for ops, view_texts in views.items():
            q = probabilities(tokenizer, model, view_texts)
            agree = p.argmax(1) == q.argmax(1)
            kl = (p * (p.clamp_min(1e-8).log() - q.clamp_min(1e-8).log())).sum(1).mean()
            lines.append(f"| {model_dir.name} | `{ops}` | {(p.argmax(1) == labels).float().mean():.3f} / "
                         f"{(q.argmax(1) == labels).float().mean():.3f} | {agree.float().mean():.3f} / "
                         f"{agree[confident].float().mean():.3f} ({confident.float().mean():.2f}) | {kl:.3f} |")
            print(lines[-1], flush=True)
    args.results.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

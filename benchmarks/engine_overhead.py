"""What the engine costs: `textssl train` (supervised) against a bare PyTorch loop, same run.

Both sides start from the same MiniLM weights and run the same forward and backward passes
on the same labelled batches, with AdamW, the learning-rate schedule and gradient clipping.
The bare loop is what a user would write by hand; textssl adds accelerate, the unlabelled
batch drawn every step, logging, and (end to end only) data preparation, evaluation and
checkpoints. The two alternate for `--repeats` rounds, so machine noise hits both; the
printed ratio is textssl's steps per second over the bare loop's (1.0 = no overhead).

    python benchmarks/engine_overhead.py --steps 30 --repeats 3 \
        --results benchmarks/results/engine_overhead.md
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from transformers import AutoModelForSequenceClassification

from textssl.engine.optim import build_optimizer, build_scheduler
from textssl.recipe import load_config
from textssl.run import Run, build_run
from textssl.models.hf import load_pretrained

RECIPE = "recipes/text/supervised.yaml"


def textssl_run(overrides: list[str]) -> tuple[float, float, Run]:
    """Steps per second inside the training loop, and over the whole `execute()` call."""
    with tempfile.TemporaryDirectory() as folder:
        run = build_run(load_config(RECIPE, [*overrides, f"train.output_dir={folder}"]))
        started = time.perf_counter()
        metrics = run.execute()
        end_to_end = run.config.train.max_steps / (time.perf_counter() - started)
    return metrics["train_steps_per_second"], end_to_end, run


def bare_loop(run: Run) -> float:
    """The same steps by hand on a fresh transformers model; steps per second."""
    config, trainer = run.config.train, run.trainer
    torch.manual_seed(config.seed)
    _, model = load_pretrained(run.config.model.name, AutoModelForSequenceClassification, trust_remote_code=False,
                               num_labels=len(run.task.data.label_names))
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config)
    model.train()
    started = time.perf_counter()
    for step in range(config.max_steps):
        batch = run.task.batch(step, trainer.accelerator.device)[0]
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = F.cross_entropy(logits, batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return config.max_steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uratio", type=int, default=1, help="unlabelled batch size / labelled batch size")
    parser.add_argument("--results", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args()
    overrides = [f"train.max_steps={args.steps}", f"train.eval_every={args.steps}", f"train.save_every={args.steps}",
                 f"train.uratio={args.uratio}", "train.progress_bar=false"]

    loop, whole, bare = [], [], []
    for _ in range(args.repeats):
        in_loop, end_to_end, run = textssl_run(overrides)
        loop.append(in_loop)
        whole.append(end_to_end)
        bare.append(bare_loop(run))
        print(f"textssl {in_loop:.3f} steps/s in the loop ({end_to_end:.3f} end to end), bare {bare[-1]:.3f}")

    ratios = [a / b for a, b in zip(loop, bare)]
    whole_ratios = [a / b for a, b in zip(whole, bare)]
    table = "\n".join([
        f"`python benchmarks/engine_overhead.py --steps {args.steps} --repeats {args.repeats} --uratio {args.uratio}`"
        f" ({torch.get_num_threads()} threads, {RECIPE})",
        "",
        "| | steps/s (median) | ratio to bare loop (median, min–max) |",
        "|---|---|---|",
        f"| bare PyTorch loop | {statistics.median(bare):.3f} | 1 |",
        f"| textssl training loop | {statistics.median(loop):.3f} | {statistics.median(ratios):.3f} "
        f"({min(ratios):.3f}–{max(ratios):.3f}) |",
        f"| textssl `train()` end to end | {statistics.median(whole):.3f} | {statistics.median(whole_ratios):.3f} "
        f"({min(whole_ratios):.3f}–{max(whole_ratios):.3f}) |",
    ])
    print(table)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("a") as out:
            out.write(table + "\n\n")


if __name__ == "__main__":
    main()

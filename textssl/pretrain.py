"""In-domain pretraining of a text encoder on the training pool (`textssl pretrain`).

Two objectives over the pool's texts (never its labels), and SetFit's stage over the labelled draw:

- contrastive (SimCSE, Gao et al. 2021): two encodings of each text, mean-pooled, and an
  InfoNCE loss that picks each text's partner among the batch, at temperature t:
      L = CE(cos(z_i, z'_j) / t, j = i)
  z' is the same text through other dropout (`pairs=dropout`) or its strong view
  (`pairs=views`, e.g. its back-translation). It keeps a sentence encoder's space usable.
- mlm: masked-LM with `DataCollatorForLanguageModeling`; a checkpoint without an MLM head
  (MiniLM) gets a new one. Only the encoder is written, with the checkpoint's own pooler
  (the MLM model has none), so classifiers start from the same head they would have had.
- labelled_pairs (SetFit, Tunstall et al. 2022): pairs of labelled texts, the cosine of their
  mean-pooled embeddings pulled to 1 within a class and 0 across: L = (cos(z_a, z_b) - y)^2.

The written folder (model and tokenizer) is a `model.name` for any recipe. Batches are a
pure function of the step and checkpoints are atomic, so a killed run resumes exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import set_seed
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import AutoModel, AutoModelForMaskedLM, DataCollatorForLanguageModeling

from textssl.batch import to_device
from textssl.config import DataConfig, PretrainRunConfig, TrainConfig
from textssl.data import BatchStream, load_splits, sample_labelled
from textssl.data.views import SOURCE_COLUMN, with_augmented_views
from textssl.engine.checkpoint import load_checkpoint, replace_directory, save_checkpoint, write_whole
from textssl.engine.metrics_log import MetricsLog
from textssl.engine.optim import build_optimizer, build_scheduler
from textssl.errors import TextsslError
from textssl.models.features import mean_pooled
from textssl.models.hf import load_pretrained
from textssl.run import make_accelerator, same_run


def info_nce(anchors: torch.Tensor, partners: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCSE's loss: each anchor must pick its own partner among all partners of the batch."""
    similarity = F.normalize(anchors.float(), dim=-1) @ F.normalize(partners.float(), dim=-1).T
    return F.cross_entropy(similarity / temperature, torch.arange(len(anchors), device=anchors.device))


def labelled_pairs(train: Dataset, data: DataConfig, iterations: int, seed: int) -> Dataset:
    """SetFit's pairs: per round, each labelled text with a random text of its class
    (similarity 1) and one of another class (similarity 0)."""
    if data.labels_per_class is None and data.num_labels is None:
        raise TextsslError("pretrain.objective=labelled_pairs pairs the labelled draw: set data.labels_per_class "
                           "or data.num_labels")
    labels, names = np.asarray(train["label"]), train.features["label"].names
    rows = sample_labelled(labels, names, per_class=data.labels_per_class, total=data.num_labels, seed=seed)
    texts, classes, rng = train.select(rows)["text"], labels[rows], np.random.default_rng(seed)
    pairs: dict[str, list] = {"text": [], "partner": [], "similarity": []}
    for _ in range(iterations):
        for text, label in zip(texts, classes):
            for members, similarity in ((classes == label, 1.0), (classes != label, 0.0)):
                pairs["text"].append(text)
                pairs["partner"].append(texts[rng.choice(np.flatnonzero(members))])
                pairs["similarity"].append(similarity)
    return Dataset.from_dict(pairs)


def pretraining_rows(config: PretrainRunConfig) -> Dataset:
    """What the steps read: the pool's texts (with their strong views for `pairs=views`), or
    the labelled draw's pairs."""
    settings = config.pretrain
    splits = load_splits(config.data)
    if "text" not in splits["train"].column_names:
        raise TextsslError(f"data.dataset={config.data.dataset!r} holds images; pretraining reads texts")
    if settings.objective == "labelled_pairs":
        return labelled_pairs(splits["train"], config.data, settings.pair_iterations, settings.seed)
    if settings.objective == "contrastive" and settings.pairs == "views":
        if not config.views.augment:
            raise TextsslError("pretrain.pairs=views needs views.augment, e.g. [backtranslation:backend=apertium]")
        splits = with_augmented_views(splits, config.views)
    return splits["train"].remove_columns("label")


def objective(config: PretrainRunConfig, model: torch.nn.Module, tokenizer, device: torch.device
              ) -> Callable[[dict[str, list]], torch.Tensor]:
    """The loss of a batch of rows under `pretrain.objective`."""
    settings, max_length = config.pretrain, config.data.max_length
    masking = DataCollatorForLanguageModeling(tokenizer, mlm_probability=settings.mlm_probability)

    def embedded(texts: list[str]) -> torch.Tensor:
        inputs = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        return mean_pooled(model, to_device(dict(inputs), device))

    def masked_lm(rows: dict[str, list]) -> torch.Tensor:
        encoded = tokenizer(rows["text"], truncation=True, max_length=max_length)
        return model(**to_device(masking([{"input_ids": ids} for ids in encoded["input_ids"]]), device)).loss

    def contrastive(rows: dict[str, list]) -> torch.Tensor:
        partners = rows["text"] if settings.pairs == "dropout" else [
            views[0] if isinstance(views, list) else views for views in rows[SOURCE_COLUMN]]
        return info_nce(embedded(rows["text"]), embedded(partners), settings.temperature)

    def pairs(rows: dict[str, list]) -> torch.Tensor:
        similarity = F.cosine_similarity(embedded(rows["text"]).float(), embedded(rows["partner"]).float())
        return F.mse_loss(similarity, torch.as_tensor(rows["similarity"], device=similarity.device))

    return {"mlm": masked_lm, "contrastive": contrastive, "labelled_pairs": pairs}[settings.objective]


def pretrain(config: PretrainRunConfig) -> Path:
    """Pretrain (or resume) the encoder `config` describes; the folder written."""
    settings, output_dir = config.pretrain, config.output_dir
    if config.model.cached_features:
        raise TextsslError("model.cached_features: pretraining trains the encoder itself; drop the option")
    accelerator = make_accelerator(settings.mixed_precision)
    set_seed(settings.seed)
    with accelerator.main_process_first():
        rows_of_steps = pretraining_rows(config)
    tokenizer, model = load_pretrained(config.model.name, AutoModelForMaskedLM if settings.objective == "mlm"
                                       else AutoModel, trust_remote_code=config.model.trust_remote_code)
    loss_of = objective(config, model, tokenizer, accelerator.device)

    schedule = TrainConfig(max_steps=settings.max_steps, learning_rate=settings.learning_rate,
                           weight_decay=settings.weight_decay, warmup_ratio=settings.warmup_ratio)
    optimizer = build_optimizer(model, schedule)
    scheduler = build_scheduler(optimizer, schedule)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    stream = BatchStream(rows_of_steps, settings.batch_size, (settings.seed, 2), accelerator.process_index,
                         accelerator.num_processes)

    recipe_file = output_dir / "pretrain.yaml"
    if settings.resume and recipe_file.is_file() and not same_run(recipe_file.read_text(), config, "pretrain"):
        raise TextsslError(f"{output_dir} holds a pretraining run with a different recipe; set pretrain.output_dir "
                           f"to a new folder, or pretrain.resume=false to start over")
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_whole(recipe_file, config.to_yaml())
    saved = (load_checkpoint(accelerator, output_dir / "checkpoint", "pretrain.resume=false") if settings.resume
             else None)
    step = saved["step"] if saved else 0
    log = MetricsLog(output_dir / "metrics.jsonl", after_step=step, enabled=accelerator.is_main_process)
    model.train()
    losses: list[float] = []
    with tqdm(total=settings.max_steps, initial=step, desc=f"pretraining ({settings.objective})",
              disable=not (settings.progress_bar and accelerator.is_main_process)) as bar:
        while step < settings.max_steps:
            rows, _, _ = stream.rows(step)
            with accelerator.autocast():
                loss = loss_of(rows)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), schedule.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(float(accelerator.reduce(loss.detach(), reduction="mean")))
            bar.update(1)
            if step % settings.log_every == 0 or step == settings.max_steps:
                log.write(step, {"loss": sum(losses) / len(losses), "lr": scheduler.get_last_lr()[0]})
                bar.set_postfix(loss=f"{sum(losses) / len(losses):.3f}")
                losses = []
            if step % settings.save_every == 0 or step == settings.max_steps:
                save_checkpoint(accelerator, output_dir / "checkpoint", step, {})

    if accelerator.is_main_process:
        encoder = _encoder_of(accelerator.unwrap_model(model), config.model.name, config.model.trust_remote_code)
        about = {"base_model": config.model.name, "objective": settings.objective, "pairs": settings.pairs,
                 "steps": settings.max_steps, "dataset": config.data.dataset}

        def write(folder: Path) -> None:
            encoder.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            (folder / "textssl_pretrain.json").write_text(json.dumps(about, indent=2) + "\n")

        replace_directory(output_dir / "model", write)
    accelerator.wait_for_everyone()
    return output_dir / "model"


def _encoder_of(model: torch.nn.Module, base_name: str, trust_remote_code: bool) -> torch.nn.Module:
    """The bare encoder, with a pooler: an MLM model's encoder gets the original checkpoint's
    pooler back, since a classifier would otherwise start from a random one."""
    if not hasattr(model, "base_model") or model.base_model is model:
        return model
    _, encoder = load_pretrained(base_name, AutoModel, trust_remote_code=trust_remote_code)
    missing, unexpected = encoder.load_state_dict(model.base_model.state_dict(), strict=False)
    if unexpected or any("pooler" not in name for name in missing):
        raise TextsslError(f"cannot carry the pretrained weights into {base_name!r}'s encoder: "
                           f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    return encoder


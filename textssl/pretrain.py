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
  With `teacher`, a trained classifier's most confident labels on the pool join the draw
  (`teacher_per_class` of each class): the encoder itself learns what the teacher knows,
  which a head over a frozen encoder cannot (distillation into the body, as SetFit's
  distillation trainer and SimCLRv2 do it).

The written folder (model and tokenizer) is a `model.name` for any recipe. Batches are a
pure function of the step and checkpoints are atomic, so a killed run resumes exactly.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import set_seed
from datasets import Dataset
from transformers import AutoModel, AutoModelForMaskedLM, DataCollatorForLanguageModeling

from textssl.atomic import written_whole
from textssl.batch import StepOutput, to_device
from textssl.config import DataConfig, PretrainConfig, PretrainRunConfig
from textssl.data import BatchStream, load_splits, sample_labelled
from textssl.data.view_cache import SOURCE_COLUMN, with_augmented_views
from textssl.engine.callbacks import LogMetrics, SaveCheckpoint
from textssl.engine.trainer import Task, Trainer, make_accelerator, open_run_folder
from textssl.errors import TextsslError
from textssl.inference import cached_probabilities
from textssl.models.features import mean_pooled
from textssl.models.hf import load_pretrained

log = logging.getLogger(__name__)

Objective = Callable[[torch.nn.Module, dict[str, list]], torch.Tensor]


def info_nce(anchors: torch.Tensor, partners: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCSE's loss: each anchor must pick its own partner among all partners of the batch."""
    similarity = F.normalize(anchors.float(), dim=-1) @ F.normalize(partners.float(), dim=-1).T
    return F.cross_entropy(similarity / temperature, torch.arange(len(anchors), device=anchors.device))


def labelled_draw(train: Dataset, data: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows and labels a training run with `train.seed=seed` draws as its labelled examples."""
    if data.labels_per_class is None and data.num_labels is None:
        raise TextsslError("pretrain.objective=labelled_pairs pairs the labelled draw: set data.labels_per_class "
                           "or data.num_labels")
    labels = np.asarray(train["label"])
    rows = sample_labelled(labels, train.features["label"].names, per_class=data.labels_per_class,
                           total=data.num_labels, seed=seed)
    return rows, labels[rows]


def teacher_labelled(train: Dataset, labelled_rows: np.ndarray, teacher: str,
                     per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The pool rows (outside the labelled draw) the teacher is most confident of, `per_class`
    of each class it predicts, with its labels."""
    pool_rows = np.setdiff1d(np.arange(len(train)), labelled_rows)
    probs = cached_probabilities(teacher, train.select(pool_rows).select_columns(["text"]),
                                 train.features["label"].names, field="pretrain.teacher")
    confidence, predicted = probs.max(-1), probs.argmax(-1)
    chosen = [members[np.argsort(-confidence[members], kind="stable")[:per_class]]
              for members in (np.flatnonzero(predicted == label) for label in range(probs.shape[1]))]
    chosen = np.sort(np.concatenate(chosen))
    return pool_rows[chosen], predicted[chosen]


def labelled_pairs(texts: list[str], classes: np.ndarray, iterations: int, seed: int) -> Dataset:
    """SetFit's pairs: per round, each labelled text with a random text of its class
    (similarity 1) and one of another class (similarity 0)."""
    rng = np.random.default_rng(seed)
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
    the pairs of the labelled draw (and of the teacher's labels on the pool)."""
    settings = config.pretrain
    splits = load_splits(config.data)
    if "text" not in splits["train"].column_names:
        raise TextsslError(f"data.dataset={config.data.dataset!r} holds images; pretraining reads texts")
    if settings.objective == "labelled_pairs":
        train = splits["train"]
        rows, classes = labelled_draw(train, config.data, settings.seed)
        if settings.teacher:
            taught_rows, taught = teacher_labelled(train, rows, settings.teacher, settings.teacher_per_class)
            rows, classes = np.concatenate([rows, taught_rows]), np.concatenate([classes, taught])
        return labelled_pairs(train.select(rows)["text"], classes, settings.pair_iterations, settings.seed)
    if settings.objective == "contrastive" and settings.pairs == "views":
        if not config.views.augment:
            raise TextsslError("pretrain.pairs=views needs views.augment, e.g. [backtranslation:backend=apertium]")
        splits = with_augmented_views(splits, config.views)
    return splits["train"].remove_columns("label")


def warn_unless_one_pass(pairs: int, settings: PretrainConfig, processes: int = 1) -> None:
    """SetFit's stage takes one pass over its pairs, whose number grows with the labels: a
    `max_steps` set for one draw size is a fraction of a pass, or several, for another. Each
    process takes `batch_size` pairs a step."""
    per_step = settings.batch_size * processes
    passes = settings.max_steps * per_step / pairs
    if not 0.5 <= passes <= 2:
        log.warning("pretrain.max_steps=%d takes %.1f passes over the %d labelled pairs; SetFit's stage takes one: "
                    "pretrain.max_steps=%d", settings.max_steps, passes, pairs, math.ceil(pairs / per_step))


def objective(config: PretrainRunConfig, tokenizer, device: torch.device) -> Objective:
    """The loss of the model on a batch of rows under `pretrain.objective`."""
    settings, max_length = config.pretrain, config.data.max_length
    masking = DataCollatorForLanguageModeling(tokenizer, mlm_probability=settings.mlm_probability)

    def embedded(model: torch.nn.Module, texts: list[str]) -> torch.Tensor:
        inputs = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        return mean_pooled(model, to_device(dict(inputs), device))

    def masked_lm(model: torch.nn.Module, rows: dict[str, list]) -> torch.Tensor:
        encoded = tokenizer(rows["text"], truncation=True, max_length=max_length)
        return model(**to_device(masking([{"input_ids": ids} for ids in encoded["input_ids"]]), device)).loss

    def contrastive(model: torch.nn.Module, rows: dict[str, list]) -> torch.Tensor:
        partners = rows["text"] if settings.pairs == "dropout" else [
            views[0] if isinstance(views, list) else views for views in rows[SOURCE_COLUMN]]
        return info_nce(embedded(model, rows["text"]), embedded(model, partners), settings.temperature)

    def pairs(model: torch.nn.Module, rows: dict[str, list]) -> torch.Tensor:
        similarity = F.cosine_similarity(embedded(model, rows["text"]).float(),
                                         embedded(model, rows["partner"]).float())
        return F.mse_loss(similarity, torch.as_tensor(rows["similarity"], device=similarity.device))

    return {"mlm": masked_lm, "contrastive": contrastive, "labelled_pairs": pairs}[settings.objective]


class PretrainingTask(Task):
    """Batches of the pretraining rows, and the objective's loss on them."""

    def __init__(self, rows: Dataset, loss_of: Objective, batch_size: int, seed: int, rank: int, world: int):
        self.stream, self.loss_of = BatchStream(rows, batch_size, (seed, 2), rank, world), loss_of

    def batch(self, number: int, device: torch.device) -> dict[str, list]:
        return self.stream.rows(number)[0]  # texts: the objective tokenises them onto the device

    def training_step(self, model, rows, progress):
        loss = self.loss_of(model, rows)
        return StepOutput(loss, {"loss": loss.item()})


def pretrain(config: PretrainRunConfig) -> Path:
    """Pretrain (or resume) the encoder `config` describes; the folder written."""
    settings, output_dir = config.pretrain, config.output_dir
    if config.model.cached_features:
        raise TextsslError("model.cached_features: pretraining trains the encoder itself; drop the option")
    accelerator = make_accelerator(settings, output_dir)
    set_seed(settings.seed)
    with accelerator.main_process_first():
        rows = pretraining_rows(config)
    if settings.objective == "labelled_pairs" and accelerator.is_main_process:
        warn_unless_one_pass(len(rows), settings, accelerator.num_processes)
    tokenizer, model = load_pretrained(config.model.name, AutoModelForMaskedLM if settings.objective == "mlm"
                                       else AutoModel, trust_remote_code=config.model.trust_remote_code)
    task = PretrainingTask(rows, objective(config, tokenizer, accelerator.device), settings.batch_size, settings.seed,
                           accelerator.process_index, accelerator.num_processes)
    callbacks = [LogMetrics(settings.log_every, settings.progress_bar, f"pretraining ({settings.objective})"),
                 SaveCheckpoint(settings.save_every)]
    trainer = Trainer(model, task, settings, output_dir, accelerator, callbacks)
    trainer.train(resume=open_run_folder(config, accelerator))

    if accelerator.is_main_process:
        encoder = _encoder_of(trainer.backbone, config.model.name, config.model.trust_remote_code)
        about = {"base_model": config.model.name, "objective": settings.objective, "pairs": settings.pairs,
                 "steps": settings.max_steps, "dataset": config.data.dataset,
                 **({"teacher": settings.teacher, "teacher_per_class": settings.teacher_per_class}
                    if settings.teacher else {})}

        with written_whole(output_dir / "model") as folder:
            encoder.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            (folder / "textssl_pretrain.json").write_text(json.dumps(about, indent=2) + "\n")
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


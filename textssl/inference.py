"""Using a trained model: load it, score it on labelled data, label new inputs.

A run folder (`train.output_dir`) or the model folder inside it works everywhere: a text
model (any Hugging Face sequence classifier), a head over cached encoder features, or an
image network.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from datasets import Dataset
from sklearn.metrics import classification_report, confusion_matrix
from tqdm.auto import tqdm

from textssl.atomic import completed, written_whole
from textssl.cache import cache_dir
from textssl.config import DataConfig
from textssl.data import load_splits
from textssl.data.sources import check_utf8, decode_utf8, digest_column
from textssl.errors import TextsslError
from textssl.models import Classifier, saved_backbone_class
from textssl.models.hf import HFClassifier

DEFAULT_MAX_LENGTH = 512


def model_folder(run_or_model: str | Path) -> Path:
    """The model folder of a run folder, or the folder itself when it holds a saved model."""
    path = Path(run_or_model)
    if (path / "model").is_dir() or (path / "model.old").is_dir():
        return completed(path / "model")
    if (path / "config.json").is_file():
        return path
    raise TextsslError(f"{path}: neither a textssl run folder (with model/) nor a saved model folder "
                       f"(with config.json)")


def run_config(run_or_model: str | Path) -> dict | None:
    """The resolved config of the run a model comes from, when it is at hand."""
    folder = model_folder(run_or_model)
    for candidate in (Path(run_or_model) / "config.yaml", folder.parent / "config.yaml"):
        if candidate.is_file():
            return yaml.safe_load(candidate.read_text())
    return None


def load_classifier(run_or_model: str | Path, trust_remote_code: bool = False) -> Classifier:
    """The trained model as a textssl `Classifier`, in eval mode.

    A run whose recipe set `model.trust_remote_code` loads only when the caller trusts its
    code too: the run folder may come from someone else.
    """
    folder, config = model_folder(run_or_model), run_config(run_or_model)
    saved = json.loads((folder / "config.json").read_text())
    max_length = config["data"]["max_length"] if config else saved.get("max_length", DEFAULT_MAX_LENGTH)
    if config and config["model"].get("trust_remote_code") and not trust_remote_code:
        raise TextsslError(f"{run_or_model}: its recipe set model.trust_remote_code=true, so loading it runs the "
                           f"model's own code; pass --trust-remote-code (trust_remote_code=True) if you trust it")
    return saved_backbone_class(saved).from_saved(folder, saved, max_length, trust_remote_code).eval()


def load(run_or_model: str | Path, trust_remote_code: bool = False) -> Any:
    """A text model as a transformers `pipeline("text-classification")`; otherwise (an image
    network, a head over cached features) the textssl `Classifier`, with `probabilities`."""
    from transformers import pipeline

    model = load_classifier(run_or_model, trust_remote_code)
    if isinstance(model, HFClassifier):
        return pipeline("text-classification", model=model.model, tokenizer=model.tokenizer, top_k=None)
    return model


@torch.no_grad()
def probabilities(model: Classifier, inputs: list, batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Class probabilities of raw inputs (texts, or uint8 images of shape (channels, height, width))."""
    out = []
    for start in tqdm(range(0, len(inputs), batch_size), desc="predicting", unit="batch", disable=not progress):
        rows = model.preprocess({model.input_column: list(inputs[start:start + batch_size])})
        out.append(torch.softmax(model(model.collate(rows)).float(), dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(model.label_names)), dtype=np.float32)


def cached_probabilities(teacher: str | Path, inputs: Dataset, label_names: list[str],
                         field: str = "algorithm.teacher") -> np.ndarray:
    """A teacher's class probabilities over the one column of `inputs`, computed once per
    teacher and inputs and cached (a larger teacher takes minutes over a pool on a CPU)."""
    folder, column = model_folder(teacher), inputs.column_names[0]
    digest = hashlib.sha256(column.encode())
    for file in sorted(folder.glob("*.json")) + sorted(folder.glob("*.safetensors")):
        digest.update(file.name.encode() + file.read_bytes())
    digest_column(digest, inputs, column)
    cached = cache_dir() / "teacher_predictions" / f"{digest.hexdigest()[:24]}.npy"
    if cached.is_file():
        return np.load(cached)
    model = load_classifier(teacher)
    if model.label_names != label_names:
        raise TextsslError(f"{field}={teacher}: its classes {model.label_names} are not the data's {label_names}")
    probs = probabilities(model, inputs[column])
    cached.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(cached) as temporary, temporary.open("wb") as handle:
        np.save(handle, probs)
    return probs


def evaluate(run_or_model: str | Path, data: str | None = None, split: str = "test",
             progress: bool = True, trust_remote_code: bool = False) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision / recall / F1 and the confusion matrix on
    `split` of `data` (a built-in, a Hub dataset, or a file: then every row of it), or of
    the run's own data when `data` is None; and how many inputs a second the model labelled
    (`texts_per_second` / `images_per_second`: preprocessing included, so a head over cached
    features counts texts its encoder has seen at the cache's speed; time new texts with an
    empty `TEXTSSL_CACHE`)."""
    model, config = load_classifier(run_or_model, trust_remote_code), run_config(run_or_model)
    if data is None and config is None:
        raise TextsslError(f"{run_or_model}: a model folder without its run; name the data with --data")
    settings = DataConfig(**{**(config["data"] if config else {}), **({"dataset": data} if data else {})})
    if data is not None and Path(data).is_file():  # a file is evaluated whole: it is every split
        settings.dev_file = settings.test_file = data
        split = "test"
    splits = load_splits(settings)
    if split not in splits:
        raise TextsslError(f"{settings.dataset}: no split {split!r} (it has {', '.join(splits)})")
    dataset = splits[split]
    names = dataset.features["label"].names
    unknown = sorted(set(names) - set(model.label_names))
    if unknown:
        raise TextsslError(f"{settings.dataset} [{split}]: labels {unknown} are not among the model's "
                           f"{model.label_names}")
    truth = np.asarray([model.label_names.index(names[label]) for label in dataset["label"]])
    inputs = dataset[model.input_column]
    started = time.perf_counter()
    predicted = probabilities(model, inputs, progress=progress).argmax(-1)
    speed = len(inputs) / (time.perf_counter() - started)
    everyone = list(range(len(model.label_names)))
    report = classification_report(truth, predicted, labels=everyone, target_names=model.label_names,
                                   output_dict=True, zero_division=0)
    return {
        "data": settings.dataset, "split": split, "examples": len(truth),
        f"{model.input_column}s_per_second": speed,  # preprocessing and the model, batches of 64
        "accuracy": float((truth == predicted).mean()), "macro_f1": report["macro avg"]["f1-score"],
        "per_class": {name: {"precision": report[name]["precision"], "recall": report[name]["recall"],
                             "f1": report[name]["f1-score"], "support": int(report[name]["support"])}
                      for name in model.label_names},
        "labels": model.label_names,
        "confusion_matrix": confusion_matrix(truth, predicted, labels=everyone).tolist(),
    }


def evaluation_table(result: dict[str, Any]) -> str:
    """The per-class table and the confusion matrix of an `evaluate` result, as Markdown."""
    names = result["labels"]
    speed = next(f"{value:,.0f} {key.split('_')[0]}/s" for key, value in result.items() if key.endswith("_per_second"))
    lines = [f"{result['data']} [{result['split']}], {result['examples']} examples: accuracy "
             f"{result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}, {speed}", "",
             "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name in names:
        row = result["per_class"][name]
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |")
    lines += ["", "| true \\ predicted | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {name} | " + " | ".join(map(str, counts)) + " |"
              for name, counts in zip(names, result["confusion_matrix"])]
    return "\n".join(lines)


def read_inputs(source: str, column: str | None, input_column: str) -> list:
    """Inputs to label: lines of stdin (`-`) or of a .txt file, a column of a CSV / JSON / JSONL /
    Parquet file, or images in a .npy array of shape (n, height, width) or (n, channels, height, width)."""
    import sys

    if source == "-":
        return [line for line in decode_utf8(sys.stdin.buffer.read(), "stdin").splitlines() if line.strip()]
    path = Path(source)
    if not path.is_file():
        raise TextsslError(f"{source}: no such file")
    if input_column == "image":
        if path.suffix != ".npy":
            raise TextsslError(f"{source}: an image model reads a .npy array of uint8 images")
        images = np.load(path, allow_pickle=False)
        return list(images[:, None] if images.ndim == 3 else images)
    if path.suffix == ".txt":
        return [line for line in decode_utf8(path.read_bytes(), str(path)).splitlines() if line.strip()]
    if path.suffix in (".csv", ".json", ".jsonl"):
        check_utf8(path)
    frame = _read_table(path)
    column = column or "text"
    if column not in frame.columns:
        raise TextsslError(f"{source}: no column {column!r} (columns: {', '.join(map(str, frame.columns))}); "
                           f"name it with --column")
    return frame[column].astype(str).tolist()


def predictions_table(model: Classifier, inputs: list, batch_size: int = 64, progress: bool = True):
    """One row per input: the text (not for images), the predicted label and each class's probability."""
    import pandas as pd

    probs = probabilities(model, inputs, batch_size, progress)
    table = pd.DataFrame({"label": [model.label_names[i] for i in probs.argmax(-1)]})
    if model.input_column == "text":
        table.insert(0, "text", inputs)
    for i, name in enumerate(model.label_names):
        table[f"score_{name}"] = probs[:, i]
    return table


def write_table(table, out: str | None) -> None:
    """CSV, JSONL or Parquet by the file's suffix, written whole or not at all; JSON lines on
    stdout without a file."""
    import sys

    if out is None:
        table.to_json(sys.stdout, orient="records", lines=True, force_ascii=False)
        sys.stdout.write("\n")
        return
    path = Path(out)
    if path.suffix not in (".csv", ".jsonl", ".parquet"):
        raise TextsslError(f"--out {out}: write .csv, .jsonl or .parquet")
    with written_whole(path) as temporary:
        if path.suffix == ".csv":
            table.to_csv(temporary, index=False)
        elif path.suffix == ".jsonl":
            table.to_json(temporary, orient="records", lines=True, force_ascii=False)
        else:
            table.to_parquet(temporary, index=False)


def _read_table(path: Path):
    import pandas as pd

    readers = {".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True),
               ".json": pd.read_json, ".parquet": pd.read_parquet}
    if path.suffix not in readers:
        raise TextsslError(f"{path}: read .txt, .csv, .json, .jsonl, .parquet (or - for stdin)")
    try:
        return readers[path.suffix](path)
    except Exception as error:  # pandas raises many types for malformed files
        raise TextsslError(f"{path}: could not be read as {path.suffix[1:]}: "
                           f"{(str(error).splitlines() or [type(error).__name__])[0]}") from None

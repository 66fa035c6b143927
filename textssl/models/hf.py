"""Any Hugging Face sequence classifier (BERT family and the like) as a textssl backbone."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textssl.config import ModelConfig
from textssl.errors import TextsslError
from textssl.models.base import Batch, Classifier, Mix, saved_label_names
from textssl.models.builtin import BUILTIN_MODELS, resolve_model_path
from textssl.models.registry import register_backbone


def hub_id(name: str) -> str | None:
    """The Hub id a text model started from, following `textssl pretrain` folders back to their base."""
    about = Path(name) / "textssl_pretrain.json"
    if about.is_file():
        return hub_id(json.loads(about.read_text())["base_model"])
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name].hub_id
    return None if Path(name).exists() else name


def load_pretrained(name: str, model_class: type, *, trust_remote_code: bool, **kwargs) -> tuple:
    """The tokenizer and the `model_class` (an Auto class) model of `name`, or one clear error.

    Weights load from safetensors only; the model's own code runs only with `trust_remote_code`.
    """
    path = resolve_model_path(name)
    try:
        return (AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code),
                model_class.from_pretrained(path, trust_remote_code=trust_remote_code, use_safetensors=True, **kwargs))
    except OSError as error:
        raise TextsslError(
            f"could not load model {name!r}: it is not a built-in ({', '.join(BUILTIN_MODELS)}), "
            f"not a local model folder with safetensors weights, and not available from the Hugging Face Hub "
            f"or its cache ({str(error).splitlines()[0]})") from None
    except ValueError as error:  # transformers' refusal to run a model's own code, among others
        hint = "; set model.trust_remote_code=true if you trust its code" if "trust_remote_code" in str(error) else ""
        raise TextsslError(f"could not load model {name!r}: {str(error).splitlines()[0]}{hint}") from None


@register_backbone
class HFClassifier(Classifier):
    """Any Hugging Face sequence classifier, fine-tuned whole: the kind used for every model name
    that no other kind claims."""

    kind = "transformers"
    description = "a Hugging Face text classifier"
    input_column = "text"
    names = tuple(BUILTIN_MODELS)
    library_name = "transformers"

    def __init__(self, name: str, label_names: list[str], max_length: int, mix_layer: int = 0,
                 trust_remote_code: bool = False):
        super().__init__()
        self.tokenizer, self.model = load_pretrained(
            name, AutoModelForSequenceClassification, trust_remote_code=trust_remote_code, num_labels=len(label_names),
            id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)})
        self.label_names, self.max_length, self.mix_layer = label_names, max_length, mix_layer
        self.trust_remote_code = trust_remote_code
        if mix_layer and mix_layer > len(self.layers()):
            raise TextsslError(f"model.mix_layer={mix_layer}, but {name!r} has {len(self.layers())} layers")

    @classmethod
    def from_config(cls, config: ModelConfig, label_names: list[str], max_length: int) -> HFClassifier:
        return cls(config.name, label_names, max_length, config.mix_layer, config.trust_remote_code)

    @classmethod
    def from_saved(cls, folder: Path, saved: dict, max_length: int, trust_remote_code: bool) -> HFClassifier:
        return cls(str(folder), saved_label_names(saved), max_length, trust_remote_code=trust_remote_code)

    @classmethod
    def base_model(cls, name: str) -> str | None:
        return hub_id(name)

    @classmethod
    def usage(cls, repo_id: str) -> str:
        return (f'from transformers import pipeline\n\nclassify = pipeline("text-classification", model="{repo_id}")\n'
                f'classify("A warm, funny and surprisingly moving film.")')

    def preprocess(self, rows: dict[str, list]) -> dict[str, list]:
        encoded = self.tokenizer(rows["text"], truncation=True, max_length=self.max_length,
                                 return_token_type_ids=False)
        return {"input_ids": encoded["input_ids"]}

    def collate(self, rows: dict[str, list]) -> Batch:
        batch = dict(self.tokenizer.pad({"input_ids": rows["input_ids"]}, return_tensors="pt"))
        if "label" in rows:
            batch["labels"] = torch.as_tensor(rows["label"])
        return batch

    def embed(self, batch: Batch) -> torch.Tensor:
        return self.model.get_input_embeddings()(batch["input_ids"])

    def classify(self, embedded: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.model(inputs_embeds=embedded, attention_mask=batch["attention_mask"]).logits

    def normalize_perturbation(self, perturbation: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Unit L2 norm per example over all its tokens' word embeddings, as Miyato et al. (2017)
        normalise r over the whole sequence; padding gets none. (Per token, an epsilon of 1
        moved each MiniLM word embedding by about 90 % of its norm, and VAT taught the model to
        predict one class for every review.)"""
        masked = perturbation * batch["attention_mask"].unsqueeze(-1).to(perturbation.dtype)
        return masked / masked.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)

    def concat(self, batches: list[Batch]) -> Batch:
        width = max(batch["input_ids"].shape[1] for batch in batches)
        pad_values = {"input_ids": self.tokenizer.pad_token_id, "attention_mask": 0}

        def padded(key: str, tensor: torch.Tensor) -> torch.Tensor:
            return F.pad(tensor, (0, width - tensor.shape[1]), value=pad_values[key]) if key in pad_values else tensor

        return {key: torch.cat([padded(key, batch[key]) for batch in batches]) for key in batches[0]}

    def layers(self) -> torch.nn.ModuleList:
        """The transformer layers (BERT-style `encoder.layer` or DistilBERT-style `transformer.layer`)."""
        base = self.model.base_model
        for owner in ("encoder", "transformer"):
            if hasattr(getattr(base, owner, None), "layer"):
                return getattr(base, owner).layer
        raise TextsslError(f"{type(base).__name__}: cannot find its transformer layers to mix hidden states")

    def classify_mixed(self, embedded: torch.Tensor, batch: Batch, mix: Mix) -> torch.Tensor:
        """TMix / MixText: mix the hidden states after layer `mix_layer` (0: the embeddings).

        The mixed example attends to the positions of both of its inputs.
        """
        union = {**batch, "attention_mask": torch.maximum(batch["attention_mask"], batch["attention_mask"][mix.partner])}
        if self.mix_layer == 0:
            return super().classify_mixed(embedded, union, mix)

        def mix_hidden(module, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            hidden = mix.weight * hidden + (1.0 - mix.weight) * hidden[mix.partner]
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        handle = self.layers()[self.mix_layer - 1].register_forward_hook(mix_hidden)
        try:
            return self.classify(embedded, union)
        finally:
            handle.remove()

    def save_pretrained(self, directory: Path) -> None:
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def load_weights(self, directory: Path) -> None:
        saved = type(self.model).from_pretrained(directory, trust_remote_code=self.trust_remote_code,
                                                 use_safetensors=True)
        self.model.load_state_dict(saved.state_dict())

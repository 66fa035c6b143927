"""Bad input gets one line of error naming its file, row, key or setting, and loses nothing already
written; each test backs a row of the README's "Bad input and the error it gets". The safety tests
back its "Safety" section: no pickled code runs, no model code runs unasked, no YAML tag runs."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer,
                          PreTrainedModel)

from textssl.data import sample_labelled
from textssl.errors import TextsslError
from textssl.inference import load_classifier
from textssl.config import ModelConfig
from textssl.models import build_backbone
from textssl.pretrain import pretrain
from textssl.recipe import load_config, load_pretrain_config
from textssl.run import build_run
from tests.conftest import sentiment_rows
from tests.test_cli import csv_args, fails_with_one_line


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# Each writes a bad training file into `folder`: its path, and the overrides that make it bad.
def empty_file(folder: Path) -> tuple[Path, list[str]]:
    (folder / "data.csv").write_text("")
    return folder / "data.csv", []


def missing_column(folder: Path) -> tuple[Path, list[str]]:
    sentiment_rows(40, seed=0).drop(columns="sentiment").to_csv(folder / "data.csv", index=False)
    return folder / "data.csv", []


def row_without_label(folder: Path) -> tuple[Path, list[str]]:
    rows = sentiment_rows(40, seed=0)
    rows.loc[5, "sentiment"] = None
    rows.to_csv(folder / "data.csv", index=False)
    return folder / "data.csv", []


def one_class(folder: Path) -> tuple[Path, list[str]]:
    rows = sentiment_rows(40, seed=0).assign(sentiment="pos")
    rows.to_csv(folder / "data.csv", index=False)
    return folder / "data.csv", []


def fewer_labels_than_classes(folder: Path) -> tuple[Path, list[str]]:
    sentiment_rows(240, seed=0).to_csv(folder / "data.csv", index=False)
    return folder / "data.csv", ["data.labels_per_class=null", "data.num_labels=1"]


def more_labels_per_class_than_a_class_has(folder: Path) -> tuple[Path, list[str]]:
    sentiment_rows(240, seed=0).to_csv(folder / "data.csv", index=False)  # 86 per class left in the pool
    return folder / "data.csv", ["data.labels_per_class=100"]


def latin1_csv(folder: Path) -> tuple[Path, list[str]]:
    lines = sentiment_rows(40, seed=0).to_csv(index=False).encode().splitlines(keepends=True)
    lines[4] = "café ".encode("latin-1") + lines[4]
    (folder / "data.csv").write_bytes(b"".join(lines))
    return folder / "data.csv", []


def latin1_jsonl(folder: Path) -> tuple[Path, list[str]]:
    lines = sentiment_rows(40, seed=0).to_json(orient="records", lines=True).encode().splitlines(keepends=True)
    lines[6] = lines[6].replace(b'"review":"', '"review":"café '.encode("latin-1"))
    (folder / "data.jsonl").write_bytes(b"".join(lines))
    return folder / "data.jsonl", []


DATA_ERRORS = {  # the line each bad file gets
    empty_file: "data.csv: the file is empty",
    missing_column: "data.csv: no column 'sentiment' (columns: review, augmented); set data.text_column / "
                    "data.label_column",
    row_without_label: "data.csv: row 6 has no label (rows are counted from 1, without the header)",
    one_class: "data.csv: a classifier needs at least two labels, found ['pos']",
    fewer_labels_than_classes: "data.num_labels=1, but it must lie between the number of classes (2) and the size "
                               "of the training pool (172)",
    more_labels_per_class_than_a_class_has: "data.labels_per_class=100, but class 'neg' has only 86 examples "
                                            "in the training pool",
    latin1_csv: "data.csv: not UTF-8 text (byte 0xe9 at line 5); save it as UTF-8",
    latin1_jsonl: "data.jsonl: not UTF-8 text (byte 0xe9 at line 7); save it as UTF-8",
}


@pytest.mark.parametrize("bad_file", DATA_ERRORS, ids=lambda case: case.__name__)
def test_bad_data_is_one_line_naming_it_and_writes_nothing(capsys, tmp_path, tiny_model, bad_file):
    path, overrides = bad_file(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run/notes.txt").write_text("written before")
    before = snapshot(tmp_path)
    line = fails_with_one_line(capsys, *csv_args(path, f"model.name={tiny_model}", "data.max_length=16",
                                                 f"train.output_dir={tmp_path / 'run'}", *overrides))
    assert line.endswith(DATA_ERRORS[bad_file])
    assert snapshot(tmp_path) == before


def test_a_class_with_no_example_cannot_be_drawn_at_random():
    with pytest.raises(TextsslError, match=r"^data\.num_labels=3: class 'b' has no example in the training pool$"):
        sample_labelled(np.array([0] * 20), ["a", "b"], total=3)


@pytest.mark.slow
def test_a_100000_character_text_is_truncated_to_max_length_and_trains(tmp_path, tiny_config):
    rows = sentiment_rows(240, seed=0)
    long_text = " ".join(["great"] * 16_667)[:100_000]
    rows.loc[rows.index % 8 == 0, "review"] = long_text  # in every split
    rows.to_csv(tmp_path / "long.csv", index=False)
    run = build_run(tiny_config(f"data.dataset={tmp_path / 'long.csv'}", "train.max_steps=2", "train.eval_every=2",
                                "train.save_every=2"))
    metrics = run.execute()
    assert metrics["test"]["accuracy"] >= 0 and metrics["best_step"] == 2
    assert len(run.trainer.backbone.preprocess({"text": [long_text]})["input_ids"][0]) == 16  # data.max_length


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model) -> list[str]:
    """The overrides of a short finished run, with its checkpoint in RUN/checkpoint/last."""
    folder = tmp_path_factory.mktemp("finished")
    sentiment_rows(240, seed=0).to_csv(folder / "reviews.csv", index=False)
    overrides = csv_args(folder / "reviews.csv", "data.labels_per_class=8", "data.max_length=16",
                         f"model.name={tiny_model}", f"train.output_dir={folder / 'run'}", "train.max_steps=2",
                         "train.batch_size=8", "train.eval_every=2", "train.save_every=2", "train.progress_bar=false")
    build_run(load_config(None, overrides)).execute()
    return overrides


def run_folder(overrides: list[str]) -> Path:
    return load_config(None, overrides).output_dir


@pytest.fixture
def restored(finished_run):
    """The finished run's overrides; every file of its folder is put back afterwards."""
    folder = run_folder(finished_run)
    saved = snapshot(folder)
    yield finished_run
    for name, content in saved.items():
        (folder / name).write_bytes(content)


def half(content: bytes) -> bytes:
    return content[:len(content) // 2]


def garbage(content: bytes) -> bytes:
    return b"\x00not a checkpoint\n" * 8


@pytest.mark.parametrize("name, damage, reason", [
    pytest.param("model.safetensors", half, "Error while deserializing header", id="model-half"),
    pytest.param("model.safetensors", garbage, "Error while deserializing header", id="model-garbage"),
    pytest.param("trainer_state.json", half, "", id="state-half"),
    pytest.param("trainer_state.json", garbage, "Expecting value", id="state-garbage"),
    pytest.param("optimizer.bin", half, "PytorchStreamReader failed reading zip archive", id="optimizer-half"),
    pytest.param("custom_checkpoint_0.pkl", garbage, "damaged, or pickled code", id="scheduler-garbage"),
    pytest.param("random_states_0.pkl", garbage, "damaged, or pickled code", id="rng-garbage"),  # accelerate skips it
])
def test_a_damaged_checkpoint_is_one_line_naming_the_file_and_nothing_is_deleted(capsys, restored, name, damage,
                                                                                reason):
    folder = run_folder(restored)
    file = folder / "checkpoint/last" / name
    file.write_bytes(damage(file.read_bytes()))
    before = snapshot(folder)
    line = fails_with_one_line(capsys, *restored)
    assert line.startswith(f"textssl: error: {file}: checkpoint file cannot be read (")
    assert reason in line
    assert line.endswith(f"; start over with train.resume=false, or delete {folder / 'checkpoint/last'}")
    assert snapshot(folder) == before


class OpensAFile:
    """Unpickling this creates `path`: what a malicious checkpoint would do."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


@pytest.mark.parametrize("name", ["custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "optimizer.bin",
                                  "random_states_0.pkl"])
def test_a_checkpoint_file_carrying_pickled_code_is_refused_and_never_run(capsys, restored, tmp_path, name):
    """accelerate loads custom_checkpoint_N.pkl (the scheduler, the algorithm's state) with
    weights_only=False: textssl makes every load of a checkpoint weights-only."""
    marker = tmp_path / "code-ran"
    file = run_folder(restored) / "checkpoint/last" / name
    torch.save({"state": OpensAFile(marker)}, file)
    line = fails_with_one_line(capsys, *restored)
    assert f"{file}: checkpoint file cannot be read (" in line and "pickled code, which is never run" in line
    assert not marker.exists()


@pytest.mark.parametrize("name, content, error", [
    ("texts.txt", "fine\ncafé au lait\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at line 2); save it as UTF-8"),
    ("texts.csv", b"text\nfine\n\xff\n", "not UTF-8 text (byte 0xff at line 3); save it as UTF-8"),
    ("texts.json", b'[{"text": ', "could not be read as json: "),
])
def test_texts_to_predict_that_cannot_be_read(capsys, tmp_path, finished_run, name, content, error):
    (tmp_path / name).write_bytes(content)
    line = fails_with_one_line(capsys, str(run_folder(finished_run)), str(tmp_path / name), command="predict")
    assert line.startswith(f"textssl: error: {tmp_path / name}: {error}")


def test_a_run_folder_made_by_another_config_is_refused_and_kept(capsys, restored):
    folder = run_folder(restored)
    before = snapshot(folder)
    line = fails_with_one_line(capsys, *restored, "train.learning_rate=1e-4")
    assert line == (f"textssl: error: {folder} holds a run with a different config; set train.output_dir to a new "
                    f"folder, or train.resume=false to start over")
    assert snapshot(folder) == before


def test_a_recipe_that_extends_itself(capsys, tmp_path):
    (tmp_path / "self.yaml").write_text("extends: self.yaml\ntrain:\n  max_steps: 3\n")
    line = fails_with_one_line(capsys, str(tmp_path / "self.yaml"))
    assert line == "textssl: error: self.yaml: `extends` forms a cycle: self.yaml -> self.yaml"


# Safety

def test_a_yaml_tag_that_would_run_code_is_an_error_and_runs_nothing(capsys, tmp_path):
    marker = tmp_path / "code-ran"
    tag = f'!!python/object/apply:os.system ["touch {marker}"]'
    (tmp_path / "evil.yaml").write_text(f"train:\n  seed: {tag}\n")
    line = fails_with_one_line(capsys, str(tmp_path / "evil.yaml"))
    assert line.endswith("evil.yaml, line 2: not valid YAML (could not determine a constructor for the tag "
                         "'tag:yaml.org,2002:python/object/apply:os.system')")
    assert "not valid YAML" in fails_with_one_line(capsys, f"train.seed={tag}")
    assert not marker.exists()


def test_an_interpolation_cannot_copy_a_token_into_the_config(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    (tmp_path / "leak.yaml").write_text("data:\n  dataset_config: ${oc.env:HF_TOKEN}\n")
    line = fails_with_one_line(capsys, str(tmp_path / "leak.yaml"))
    assert "leak.yaml: `data.dataset_config` holds a ${...} interpolation; recipes take plain values" in line
    assert "hf_secret_value" not in line
    with pytest.raises(TextsslError, match=r"`train\.output_dir` holds a \$\{\.\.\.\} interpolation"):
        load_config(None, [], {"train": {"output_dir": "${oc.env:HF_TOKEN}"}})


@pytest.fixture
def loads(monkeypatch) -> list[tuple[str, dict]]:
    """The class and keyword arguments of every from_pretrained call that textssl makes (not the
    calls transformers makes inside them)."""
    calls: list[tuple[str, dict]] = []
    inside: list[str] = []
    for owner in (AutoTokenizer, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification, PreTrainedModel):
        original = owner.from_pretrained.__func__

        def recording(cls, *args, _original=original, **kwargs):
            if not inside:
                calls.append((cls.__name__, kwargs))
            inside.append(cls.__name__)
            try:
                return _original(cls, *args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(owner, "from_pretrained", classmethod(recording))
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("trust", [False, True])
def test_trust_remote_code_reaches_every_load_only_as_the_recipe_says(loads, tmp_path, tiny_config, tiny_model,
                                                                     sentiment_csv, trust):
    asked = ["model.trust_remote_code=true"] if trust else []
    config = tiny_config(*asked)
    backbone = build_run(config).trainer.backbone  # the classifier
    backbone.load_weights(Path(tiny_model))  # a run's saved model
    backbone.save_pretrained(config.output_dir / "model")
    (config.output_dir / "config.yaml").write_text(config.to_yaml())
    if trust:  # evaluate / predict: a run folder may come from someone else, so its caller must trust it too
        with pytest.raises(TextsslError, match=rf"^{config.output_dir}: its recipe set model.trust_remote_code=true, so "
                                               r"loading it runs the model's own code; pass --trust-remote-code"):
            load_classifier(config.output_dir)
    load_classifier(config.output_dir, trust_remote_code=trust)
    build_run(tiny_config("model.cached_features=true", *asked))  # the frozen encoder
    pretrain(load_pretrain_config(None, [*csv_args(sentiment_csv), f"model.name={tiny_model}", "data.max_length=16",
                                         f"pretrain.output_dir={tmp_path / 'pretrained'}", "pretrain.objective=mlm",
                                         "pretrain.max_steps=1", "pretrain.progress_bar=false", *asked]))
    assert {name for name, _ in loads} == {"AutoTokenizer", "AutoModelForSequenceClassification",
                                           "BertForSequenceClassification", "AutoModel", "AutoModelForMaskedLM"}
    assert all(kwargs["trust_remote_code"] is trust for _, kwargs in loads), loads
    assert all(kwargs["use_safetensors"] is True for name, kwargs in loads if name != "AutoTokenizer"), loads


def test_a_model_that_ships_its_own_code_is_refused_without_trust_remote_code(tmp_path, tiny_model):
    marker = tmp_path / "code-ran"
    folder = Path(shutil.copytree(tiny_model, tmp_path / "custom"))
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="textssl-custom", auto_map={"AutoConfig": "custom.CustomConfig",
                                                         "AutoModelForSequenceClassification": "custom.CustomModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with pytest.raises(TextsslError, match=r"custom code .*; set model\.trust_remote_code=true if you trust its code"):
        build_backbone(ModelConfig(name=str(folder)), ["neg", "pos"], ["text", "label"])
    assert not marker.exists()

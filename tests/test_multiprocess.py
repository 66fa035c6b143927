import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoTokenizer, BertModel

from textssl.recipe import load_config
from textssl.run import run as train_in_this_process


@pytest.fixture(scope="module")
def tiny_model_without_dropout(tiny_model, tmp_path_factory) -> str:
    """The tiny model with dropout off, so that two processes and one draw no different noise."""
    folder = tmp_path_factory.mktemp("tiny-no-dropout")
    config = AutoConfig.from_pretrained(tiny_model, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    BertModel.from_pretrained(tiny_model, config=config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return str(folder)


@pytest.mark.multiprocess
@pytest.mark.parametrize("algorithm", [
    [],
    # per-example state (the pool's confident labels) and running statistics (alignment)
    ["algorithm.name=flexmatch", "views.column=augmented", "algorithm.distribution_alignment=true"],
], ids=["supervised", "flexmatch"])
def test_two_cpu_processes_train_one_model(tiny_model_without_dropout, sentiment_csv, tmp_path, algorithm):
    run, single = tmp_path / "run", tmp_path / "single"
    overrides = [f"data.dataset={sentiment_csv}", "data.text_column=review", "data.label_column=sentiment",
                 "data.labels_per_class=16", "data.max_length=16", f"model.name={tiny_model_without_dropout}",
                 "train.max_steps=6", "train.eval_every=3", "train.save_every=3", "train.learning_rate=1e-3",
                 "train.progress_bar=false", *algorithm]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(Path(__file__).with_name("multiprocess_train.py")), str(tmp_path), *overrides,
               f"train.output_dir={run}", "train.batch_size=4"]
    subprocess.run(command, check=True, timeout=600)

    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert all(report["world"] == 2 and report["backend"] == "DistributedType.MULTI_CPU" for report in reports)
    assert not set(reports[0]["first_batch"]) & set(reports[1]["first_batch"])  # each rank its own data
    assert reports[0]["trained"] == reports[1]["trained"]  # gradients were averaged across ranks
    assert reports[0]["trained"] != reports[0]["initial"]
    assert reports[0]["state"] == reports[1]["state"]  # state updated from the gathered global batch
    if algorithm:
        assert reports[0]["state"] != reports[0]["initial_state"]
    two = json.loads((run / "metrics.json").read_text())
    assert two["num_processes"] == 2

    # one process with the same global batch reads the same examples and reaches the same model
    one = train_in_this_process(load_config(None, [*overrides, f"train.output_dir={single}", "train.batch_size=8"]))
    assert (one["best_step"], one["dev"], one["test"]) == (two["best_step"], two["dev"], two["test"])
    for (name, a), (_, b) in zip(sorted(load_file(run / "model/model.safetensors").items()),
                                 sorted(load_file(single / "model/model.safetensors").items())):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)

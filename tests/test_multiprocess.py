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
    # running statistics: the alignment's mean of the predictions is over the gathered global
    # batch; threshold 0.5 passes every pseudo-label of two classes, so the aligned targets train
    # every step (at 0.95 the tiny model's mask stays shut), and confident_share keeps the most
    # confident half of each class as ranked in the global batch
    ["algorithm.name=fixmatch", "views.column=augmented", "algorithm.distribution_alignment=true",
     "algorithm.threshold=0.5", "algorithm.confident_share=0.5"],
    # per-example state: each unlabelled example's ensemble prediction, updated from the gathered
    # rows and indices (rank order = the one process's order, see BatchStream._positions)
    ["algorithm.name=temporal_ensembling", "algorithm.unsup_weight=1.0", "algorithm.rampup=none"],
    # flexmatch (per-example confident labels) is folded into these two: over these 30 steps its
    # warmed-up thresholds stay near 0, and its run was the fixmatch run above to the last bit
], ids=["supervised", "fixmatch_alignment", "temporal_ensembling"])
def test_two_cpu_processes_train_one_model(tiny_model_without_dropout, sentiment_csv, tmp_path, algorithm):
    run, single = tmp_path / "run", tmp_path / "single"
    overrides = [f"data.dataset={sentiment_csv}", "data.text_column=review", "data.label_column=sentiment",
                 "data.labels_per_class=16", "data.max_length=16", f"model.name={tiny_model_without_dropout}",
                 # 30 steps at 3e-3 without warm-up: the model learns (dev accuracy 0.5 -> 0.75 for
                 # supervised), so equal metrics are not two runs that both predict one class, and the
                 # 240 unlabelled rows read come round again (temporal ensembling's targets are used)
                 "train.max_steps=30", "train.eval_every=6", "train.save_every=15", "train.log_every=3",
                 "train.learning_rate=3e-3", "train.warmup_ratio=0", "train.progress_bar=false", *algorithm]
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
    assert one["dev"]["accuracy"] > 0.5  # it learnt something
    # the same log: losses averaged over the processes (Trainer.mean_over_processes), the
    # unlabelled analysis over the gathered batch
    logs = [[json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()] for folder in (single, run)]
    assert [sorted(row) for row in logs[0]] == [sorted(row) for row in logs[1]]
    for row_one, row_two in zip(*logs):
        for key in row_one:
            assert row_two[key] == pytest.approx(row_one[key], rel=1e-4, abs=1e-5), (row_one["step"], key)
    for (name, a), (_, b) in zip(sorted(load_file(run / "model/model.safetensors").items()),
                                 sorted(load_file(single / "model/model.safetensors").items())):
        # The attention key bias shifts every score of a query alike, which the softmax ignores:
        # its true gradient is 0 and it receives rounding noise (~1e-10), which AdamW divides by
        # its own square root into steps of about the learning rate. Two processes sum the
        # gradient in another order, so that noise, and these biases, differ (by ~1e-5 after
        # 30 steps); every other tensor agrees within 1e-6.
        noise_only = name.endswith("attention.self.key.bias")
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3 if noise_only else 1e-5, msg=name)

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.multiprocess
@pytest.mark.parametrize("algorithm", [
    [],
    # per-example state (the pool's confident labels) and running statistics (alignment)
    ["algorithm.name=flexmatch", "views.column=augmented", "algorithm.distribution_alignment=true"],
], ids=["supervised", "flexmatch"])
def test_two_cpu_processes_train_one_model(tiny_model, sentiment_csv, tmp_path, algorithm):
    run = tmp_path / "run"
    overrides = [f"data.dataset={sentiment_csv}", "data.text_column=review", "data.label_column=sentiment",
                 "data.labels_per_class=16", "data.max_length=16", f"model.name={tiny_model}",
                 f"train.output_dir={run}", "train.max_steps=6", "train.batch_size=4", "train.eval_every=3",
                 "train.save_every=3", "train.learning_rate=1e-3", "train.progress_bar=false", *algorithm]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(Path(__file__).with_name("multiprocess_train.py")), str(tmp_path), *overrides]
    subprocess.run(command, check=True, timeout=600)

    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert all(report["world"] == 2 and report["backend"] == "DistributedType.MULTI_CPU" for report in reports)
    assert not set(reports[0]["first_batch"]) & set(reports[1]["first_batch"])  # each rank its own data
    assert reports[0]["trained"] == reports[1]["trained"]  # gradients were averaged across ranks
    assert reports[0]["trained"] != reports[0]["initial"]
    assert reports[0]["state"] == reports[1]["state"]  # state updated from the gathered global batch
    if algorithm:
        assert reports[0]["state"] != reports[0]["initial_state"]
    assert json.loads((run / "metrics.json").read_text())["num_processes"] == 2

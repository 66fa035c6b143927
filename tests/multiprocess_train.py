"""Run by test_multiprocess.py under torchrun: trains, then writes what this replica saw and holds."""

import hashlib
import json
import sys
from pathlib import Path

from textssl.recipe import load_config
from textssl.run import Run, build_run


def digest(module) -> str:
    sha = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        sha.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
    return sha.hexdigest()


class ReportingRun(Run):
    def finish(self, state):  # before the best model is loaded back into every replica
        self.trained = digest(self.trainer.backbone)
        return super().finish(state)


if __name__ == "__main__":
    report_dir, overrides = Path(sys.argv[1]), sys.argv[2:]
    run = ReportingRun(**vars(build_run(load_config(None, overrides))))
    trainer = run.trainer
    initial, initial_state = digest(trainer.backbone), digest(run.task.algorithm.state)
    first_batch = run.task.labelled.indices(0).tolist()
    run.execute()
    rank = trainer.accelerator.process_index
    (report_dir / f"rank{rank}.json").write_text(json.dumps({
        "world": trainer.accelerator.num_processes, "initial": initial, "trained": run.trained,
        "initial_state": initial_state, "state": digest(run.task.algorithm.state),
        "first_batch": first_batch, "backend": str(trainer.accelerator.distributed_type)}))

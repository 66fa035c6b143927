"""The task of a training run: one method's steps over a labelled and an unlabelled stream.

Every micro-batch draws a labelled batch and an unlabelled batch (`uratio` times larger; none
for a method that reads no unlabelled example), makes the views the method `needs`, and asks
the method for a loss. Its targets on the unlabelled batch are then scored against the hidden
labels, for the logs only.
"""

from __future__ import annotations

import torch
from accelerate import Accelerator

from textssl.algorithms import Algorithm, RunContext
from textssl.batch import Batch, StepOutput, Views, to_device
from textssl.config import TrainConfig
from textssl.data import BatchStream, SSLData, ViewMaker
from textssl.engine.trainer import Task
from textssl.models import Classifier


class SemiSupervisedTask(Task):
    def __init__(self, algorithm: Algorithm, model: Classifier, data: SSLData, views: ViewMaker, args: TrainConfig,
                 accelerator: Accelerator):
        self.algorithm, self.data, self.views, self.accelerator = algorithm, data, views, accelerator
        self.num_classes = len(data.label_names)
        rank, world = accelerator.process_index, accelerator.num_processes
        self.labelled = BatchStream(data.labelled, args.batch_size, (args.seed, 0), rank, world)
        self.unlabelled = (BatchStream(data.unlabelled, args.batch_size * args.uratio, (args.seed, 1), rank, world)
                           if algorithm.needs.unlabelled else None)
        labelled_counts = torch.bincount(torch.as_tensor(data.labelled["label"]), minlength=self.num_classes)
        known = data.pool_prior if data.pool_prior is not None else data.seen_prior
        pool_prior = None if known is None else torch.as_tensor(known, dtype=torch.float32)
        algorithm.setup(model, RunContext(self.num_classes, len(data.unlabelled), labelled_counts,
                                          gather=accelerator.gather, num_processes=world, process_index=rank,
                                          pool_prior=pool_prior, label_names=data.label_names,
                                          pool_inputs=data.unlabelled_inputs))
        self.state = algorithm.state

    def batch(self, number: int, device: torch.device) -> tuple[Batch, Views | None]:
        """The labelled batch and the unlabelled views of micro-batch `number`."""
        rows, index, epochs = self.labelled.rows(number)
        labelled = {**self.views.labelled(rows, index, epochs), "index": torch.as_tensor(index)}
        if self.unlabelled is None:
            return to_device(labelled, device), None
        rows, index, epochs = self.unlabelled.rows(number)
        needs = self.algorithm.needs
        unlabelled = self.views.unlabelled(rows, index, epochs, needs.weak_views, needs.strong_views)
        return to_device(labelled, device), unlabelled.to(device)

    def training_step(self, model, batch, progress):
        labelled, unlabelled = batch
        return self.algorithm.training_step(model, labelled, unlabelled, progress)

    def after_optimizer_step(self, model):
        self.algorithm.after_optimizer_step(model)

    def analyse(self, output: StepOutput, batch: tuple[Batch, Views | None]) -> dict[str, float]:
        """Mask rate, predicted class shares and pseudo-label accuracy against the hidden labels.

        Analysis only: the hidden labels are read here, after the loss has been computed.
        """
        if output.unlabelled_probs is None:
            return {}
        probs, mask, index = self.accelerator.gather(
            (output.unlabelled_probs.detach().float(), output.mask.detach().float(), batch[1].index))
        predicted, mask = probs.argmax(-1).cpu(), mask.cpu()
        truth = torch.as_tensor(self.data.unlabelled_truth[index.cpu().numpy()])
        logs = {"unlabelled/mask_rate": mask.mean().item()}
        for label, name in enumerate(self.data.label_names):
            logs[f"unlabelled/predicted_share/{name}"] = (predicted == label).float().mean().item()
        if mask.sum() > 0:
            logs["unlabelled/pseudo_label_accuracy"] = (((predicted == truth).float() * mask).sum() / mask.sum()).item()
        return logs

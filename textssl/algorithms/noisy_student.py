"""Noisy Student (Xie et al. 2020): a trained teacher labels the pool once; a student learns the
labelled data and the teacher's labels under noise; the student is the next round's teacher.

    q = softmax(teacher(x)) over the whole pool, computed once (any saved model, any backbone kind)
    q~ = sharpen(q, T), or one-hot argmax q (hard)
    w = [max q >= threshold] * (balanced: n_smallest class / n of q's class, among those kept)
    L = CE(labelled) + mu(t) * mean(w * CE(f(noised x), q~))

The student reads the strong view when the data has one (back-translation, TF-IDF replacement,
RandAugment) and its own dropout (`model.feature_dropout` / `feature_noise` for a head over
cached features) otherwise. With `rounds` R > 1 a run is R runs in `OUTPUT/round-r`, each
taught by the one before. Distillation is the same method with a larger teacher than student.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from textssl.algorithms.base import Needs, RunContext, SemiSupervised, SemiSupervisedConfig
from textssl.algorithms.losses import sharpen, soft_cross_entropy
from textssl.algorithms.registry import register
from textssl.config import Config
from textssl.errors import TextsslError
from textssl.inference import cached_probabilities
from textssl.models import Classifier


@dataclass
class NoisyStudentConfig(SemiSupervisedConfig):
    name: str = "noisy_student"
    teacher: str = ""
    """The teacher: a run folder or a saved model folder (any backbone kind)."""
    hard: bool = False
    """Train towards the teacher's argmax instead of its probabilities."""
    temperature: float = 1.0
    """Of the soft targets: below 1 sharpens them."""
    threshold: float = 0.0
    """Keep only the pool examples whose teacher confidence reaches it."""
    balanced: bool = False
    """Weight the kept examples so that each class the teacher predicts counts as its smallest."""
    rounds: int = 1
    """Above 1: the student of each round teaches the next, in OUTPUT/round-1 ... round-R."""
    rampup: str = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temperature <= 0 or not 0 <= self.threshold < 1 or self.rounds < 1:
            raise TextsslError("algorithm.temperature must be above 0, algorithm.threshold in [0, 1) and "
                               "algorithm.rounds at least 1")


@register
class NoisyStudent(SemiSupervised):
    refuses_alignment = "its targets are a trained teacher's, fixed before training"
    Config = NoisyStudentConfig
    config: NoisyStudentConfig
    needs = Needs(strong_views=1)

    @classmethod
    def runs(cls, config: Config) -> list[Config]:
        if config.algorithm.rounds == 1:
            return [config]
        folders = [config.output_dir / f"round-{round}" for round in range(1, config.algorithm.rounds + 1)]
        teachers = [config.algorithm.teacher, *map(str, folders[:-1])]
        return [dataclasses.replace(config, train=dataclasses.replace(config.train, output_dir=str(folder)),
                                    algorithm=dataclasses.replace(config.algorithm, teacher=teacher, rounds=1))
                for folder, teacher in zip(folders, teachers)]

    def __init__(self, config: NoisyStudentConfig):
        super().__init__(config)
        if not config.teacher:
            raise TextsslError("algorithm.teacher: noisy_student needs a teacher, a run folder or a saved model folder")

    def setup(self, model: Classifier, context: RunContext) -> None:
        super().setup(model, context)
        if context.pool_inputs is None:
            raise TextsslError("noisy_student: the run holds no raw pool inputs for the teacher to label")
        probs = torch.from_numpy(cached_probabilities(self.config.teacher, context.pool_inputs(),
                                                      context.label_names)).float()
        confidence, predicted = probs.max(-1)
        weights = (confidence >= self.config.threshold).float()
        if self.config.balanced:
            counts = torch.bincount(predicted[weights > 0], minlength=context.num_classes).float()
            present = counts[counts > 0]
            weights *= (present.min() / counts.clamp_min(1))[predicted]
        targets = (torch.nn.functional.one_hot(predicted, context.num_classes).float() if self.config.hard
                   else sharpen(probs, self.config.temperature))
        self.state.register_buffer("targets", targets)
        self.state.register_buffer("weights", weights)

    def training_step(self, model, labelled, unlabelled, progress):
        supervised = self.supervised_loss(model, labelled)
        targets, weights = self.state.targets[unlabelled.index], self.state.weights[unlabelled.index]
        student_view = unlabelled.strong if unlabelled.strong is not None else unlabelled.weak
        logits = model(student_view)
        unsupervised = (soft_cross_entropy(targets, logits.float()) * weights).mean()
        return self.combine(supervised, unsupervised, progress, targets, weights, logits)

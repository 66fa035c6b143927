"""The shared semi-supervised pieces against their formulas, and each method on a toy problem."""

import math

import pytest
import torch
from torch import nn

from textssl.algorithms import RunContext, algorithm_class
from textssl.algorithms.losses import kl_consistency, ramp_up, sharpen, tsa_cross_entropy, tsa_threshold
from textssl.algorithms.masks import DistributionAlignment, confidence_mask, most_confident_per_class
from textssl.algorithms.teacher import EMATeacher
from textssl.batch import Views
from textssl.models import Classifier
from textssl.recipe import load_config

from conftest import SEMI_SUPERVISED


def logits_for(probs: list[list[float]]) -> torch.Tensor:
    return torch.log(torch.tensor(probs))


def test_tsa_drops_exactly_the_examples_above_the_threshold_on_the_correct_class():
    # correct-class probabilities 0.9, 0.6, 0.3, 0.55; the third's largest probability (0.7)
    # is above the threshold, but on the wrong class: it is kept
    logits = logits_for([[0.1, 0.9], [0.6, 0.4], [0.7, 0.3], [0.45, 0.55]])
    labels = torch.tensor([1, 0, 1, 1])
    loss, kept = tsa_cross_entropy(logits, labels, threshold=0.58)
    assert kept.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert loss.item() == pytest.approx((-math.log(0.3) - math.log(0.55)) / 2, rel=1e-5)


def test_tsa_with_label_smoothing_masks_on_the_probability_not_on_the_smoothed_loss():
    logits = logits_for([[0.1, 0.9], [0.6, 0.4]])
    labels = torch.tensor([1, 1])
    loss, kept = tsa_cross_entropy(logits, labels, threshold=0.8, label_smoothing=0.2)
    assert kept.tolist() == [0.0, 1.0]
    assert loss.item() == pytest.approx(-(0.9 * math.log(0.4) + 0.1 * math.log(0.6)), rel=1e-5)


def test_tsa_with_every_example_dropped_is_zero_not_nan():
    loss, kept = tsa_cross_entropy(logits_for([[0.01, 0.99]]), torch.tensor([1]), threshold=0.9)
    assert kept.sum() == 0 and loss.item() == 0.0


def test_tsa_on_two_processes_averages_to_the_loss_of_the_global_batch():
    # the first half keeps 1 example, the second 2: dividing each half by its own count is wrong
    logits = logits_for([[0.1, 0.9], [0.6, 0.4], [0.7, 0.3], [0.45, 0.55]])
    labels = torch.tensor([1, 1, 1, 1])
    whole, keep = tsa_cross_entropy(logits, labels, threshold=0.58)
    halves = [tsa_cross_entropy(logits[rows], labels[rows], 0.58, gather=lambda _: keep, num_processes=2)[0]
              for rows in (slice(0, 2), slice(2, 4))]
    assert keep.tolist() == [0.0, 1.0, 1.0, 1.0]
    assert ((halves[0] + halves[1]) / 2).item() == pytest.approx(whole.item(), rel=1e-6)


@pytest.mark.parametrize("schedule, alpha", [("linear", 0.3), ("exp", math.exp(5 * (0.3 - 1))),
                                             ("log", 1 - math.exp(-5 * 0.3))])
def test_tsa_threshold_schedules(schedule, alpha):
    assert tsa_threshold(schedule, 0.3, num_classes=4) == pytest.approx(alpha * 0.75 + 0.25)
    assert tsa_threshold("linear", 0.0, num_classes=4) == 0.25 and tsa_threshold("linear", 1.0, 4) == 1.0
    assert tsa_threshold("none", 0.0, num_classes=4) == 1.0


def test_sharpen_matches_its_formula():
    p = torch.tensor([[0.6, 0.3, 0.1]])
    expected = p ** (1 / 0.4) / (p ** (1 / 0.4)).sum()
    assert torch.allclose(sharpen(p, 0.4), expected, atol=1e-6)


def test_confidence_mask_keeps_exactly_the_examples_at_or_above_the_threshold():
    probs = torch.tensor([[0.96, 0.04], [0.06, 0.94], [0.95, 0.05], [0.5, 0.5]])
    assert confidence_mask(probs, 0.95).tolist() == [1.0, 0.0, 1.0, 0.0]


def test_most_confident_per_class_keeps_the_top_share_of_each_predicted_class():
    probs = torch.tensor([[0.99, 0.01], [0.90, 0.10], [0.80, 0.20], [0.70, 0.30],  # class 0, ranked
                          [0.40, 0.60], [0.05, 0.95]])                               # class 1
    assert most_confident_per_class(probs, 0.5).tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert most_confident_per_class(probs, 0.1).tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]  # one per class


def test_kl_consistency_is_the_kl_divergence():
    target, q = torch.tensor([[0.8, 0.2]]), torch.tensor([[0.5, 0.5]])
    expected = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    assert kl_consistency(target, torch.log(q)).item() == pytest.approx(expected, rel=1e-5)


def test_ramp_up():
    assert ramp_up(0.0, 0.4) == pytest.approx(math.exp(-5))
    assert ramp_up(0.2, 0.4) == pytest.approx(math.exp(-5 * 0.25))
    assert ramp_up(0.4, 0.4) == ramp_up(0.9, 0.4) == 1.0
    assert ramp_up(0.1, 0.4, "linear") == pytest.approx(0.25)
    assert ramp_up(0.0, 0.4, "none") == 1.0
    assert ramp_up(0.1, 0.4, "linear", start=0.2) == 0.0  # waits until `start`, then rises over `length`
    assert ramp_up(0.3, 0.4, "linear", start=0.2) == pytest.approx(0.25)
    assert ramp_up(0.7, 0.4, "linear", start=0.2) == 1.0


def test_ema_update_matches_its_formula():
    student = nn.Linear(3, 2)
    teacher = EMATeacher(student, decay=0.9)
    for t, decay in [(1, 0.5), (2, 2 / 3), (3, 0.75), (20, 0.9)]:  # min(0.9, 1 - 1/(t+1))
        while int(teacher.updates) < t - 1:
            teacher.update(student)
        before = teacher.model.weight.clone()
        with torch.no_grad():
            student.weight.add_(1.0)
        teacher.update(student)
        assert torch.allclose(teacher.model.weight, decay * before + (1 - decay) * student.weight)
    assert not any(p.requires_grad for p in teacher.parameters())
    assert not teacher.train().model.training


def test_distribution_alignment_matches_its_formula():
    align = DistributionAlignment(torch.tensor([10, 10]), momentum=0.5)
    first = torch.tensor([[0.55, 0.45], [0.53, 0.47], [0.52, 0.48]])  # a fresh head leaning to class 0
    aligned = align(first)
    assert torch.allclose(align.running, first.mean(0))  # the first batch starts the running mean
    assert aligned.argmax(-1).tolist() == [0, 1, 1]  # the lean is gone from the first step

    probs = torch.tensor([[0.9, 0.1], [0.7, 0.3]])
    running = 0.5 * first.mean(0) + 0.5 * probs.mean(0)
    expected = probs * (torch.tensor([0.5, 0.5]) / running)
    expected = expected / expected.sum(-1, keepdim=True)
    assert torch.allclose(align(probs), expected)
    assert torch.allclose(align.running, running)


# A toy problem with a known answer: two Gaussian blobs, four labels, many unlabelled points.

class Linear(Classifier):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 2)

    def embed(self, batch):
        return batch["x"]

    def classify(self, embedded, batch):
        return self.layer(embedded)


def blobs(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.arange(n) % 2
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])[labels]
    return centres + torch.randn(n, 2, generator=generator), labels


# The Pi-model's paper weight (100, on a squared error averaged over 10 classes) is 5 times
# stronger with 2 classes; on a linear model it then only shrinks the weights.
TOY_OVERRIDES = {"pi_model": ["algorithm.unsup_weight=10"]}


@pytest.mark.parametrize("name", SEMI_SUPERVISED)
def test_each_method_lowers_its_losses_on_a_toy_problem(name):
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    config = load_config(None, [f"algorithm.name={name}", *TOY_OVERRIDES.get(name, [])]).algorithm
    method = algorithm_class(name)(config)
    model = Linear()
    method.setup(model, RunContext(num_classes=2, pool_size=64, labelled_counts=torch.tensor([2, 2])))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x_l, y_l = blobs(4, generator)
    labelled = {"x": x_l, "labels": y_l}

    def views() -> tuple[Views, torch.Tensor]:
        x_u, y_u = blobs(64, generator)
        weak = [x_u] + [x_u + 0.1 * torch.randn(x_u.shape, generator=generator) for _ in range(method.needs.weak_views - 1)]
        strong = x_u + 0.5 * torch.randn(x_u.shape, generator=generator)
        return Views([{"x": view} for view in weak], [{"x": strong}], torch.arange(64)), y_u

    fixed, truth = views()
    with torch.no_grad():
        before = method.training_step(model, labelled, fixed, progress=1.0)
    for step in range(200):
        output = method.training_step(model, labelled, views()[0], progress=step / 200)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        method.after_optimizer_step(model)
    with torch.no_grad():
        after = method.training_step(model, labelled, fixed, progress=1.0)

    assert after.logs["loss/supervised"] < before.logs["loss/supervised"]
    assert after.loss < before.loss
    assert after.mask.mean() > 0.5
    assert (after.unlabelled_probs.argmax(-1) == truth).float().mean() > 0.9

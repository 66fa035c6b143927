"""Each algorithm's own invariant, on small inputs whose expected values are worked out by hand."""

import math
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from textssl.algorithms import RunContext, algorithm_class
from textssl.algorithms import ict as ict_module
from textssl.algorithms.freematch import fairness_loss
from textssl.algorithms.losses import mixup_weight
from textssl.algorithms.masks import (DistributionAlignment, FlexMatchThreshold, FreeMatchThreshold,
                                      PriorEstimate, SoftMatchWeight, relative_threshold_mask)
from textssl.algorithms.mixmatch import guess_labels
from textssl.algorithms.temporal_ensembling import EnsemblePredictions
from textssl.batch import Views
from textssl.errors import TextsslError
from textssl.models import Classifier, frozen_norm_statistics
from textssl.recipe import load_config

from conftest import SEMI_SUPERVISED


class Logits(Classifier):
    """The input is the logits (times a learnable scale of 1), and every input `classify` sees is recorded."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def embed(self, batch):
        return batch["x"]

    def classify(self, embedded, batch):
        self.seen.append(embedded.detach().clone())
        return self.scale * embedded


class MLP(Classifier):
    """A smooth two-layer network on 4-d inputs, in float64, for VAT's gradients."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, num_classes)).double()

    def embed(self, batch):
        return batch["x"]

    def classify(self, embedded, batch):
        return self.net(embedded)


def logits_of(probs: list[list[float]]) -> torch.Tensor:
    return torch.log(torch.tensor(probs))


def make(name: str, model: Classifier, *overrides: str, num_classes: int = 2, pool_size: int = 8,
         labelled_counts: torch.Tensor | None = None, **context):
    """The method `name`, set up; `context`: further `RunContext` fields (gather, process_index, ...)."""
    config = load_config(None, [f"algorithm.name={name}", *overrides]).algorithm
    method = algorithm_class(name)(config)
    labelled_counts = torch.ones(num_classes, dtype=torch.long) if labelled_counts is None else labelled_counts
    method.setup(model, RunContext(num_classes=num_classes, pool_size=pool_size, labelled_counts=labelled_counts,
                                   **context))
    return method


def views(*weak: torch.Tensor, strong: torch.Tensor | None = None, index=None) -> Views:
    index = torch.arange(len(weak[0])) if index is None else torch.as_tensor(index)
    return Views([{"x": w} for w in weak], [] if strong is None else [{"x": strong}], index)


LABELLED = {"x": logits_of([[0.8, 0.2], [0.3, 0.7]]), "labels": torch.tensor([0, 1])}


# 1. Pi-model

def test_pi_model_loss_is_zero_when_both_passes_agree():
    method = make("pi_model", Logits())
    x = logits_of([[0.9, 0.1], [0.4, 0.6]])
    out = method.training_step(method.backbone, LABELLED, views(x, x), progress=1.0)
    assert out.logs["loss/unsupervised"] == 0.0


def test_pi_model_loss_is_the_mean_squared_probability_gap_over_k():
    method = make("pi_model", Logits(), num_classes=3)
    a = torch.tensor([[1.0, 0.0, -1.0], [0.2, 0.3, 2.0]])
    b = torch.tensor([[0.0, 0.5, 0.0], [1.0, -1.0, 0.0]])
    labelled = {"x": torch.zeros(1, 3), "labels": torch.tensor([0])}
    out = method.training_step(method.backbone, labelled, views(a, b), progress=1.0)
    expected = ((a.softmax(-1) - b.softmax(-1)) ** 2).sum(-1).mean() / 3
    assert out.logs["loss/unsupervised"] == pytest.approx(expected.item(), rel=1e-5)
    assert out.logs["loss/unsupervised"] > 0.01


# 2. Temporal ensembling

def test_ensemble_target_is_the_bias_corrected_average():
    ensemble = EnsemblePredictions(pool_size=3, num_classes=2, alpha=0.6)
    z1, z2, z3 = torch.tensor([0.9, 0.1]), torch.tensor([0.5, 0.5]), torch.tensor([0.2, 0.8])
    row = torch.tensor([1])
    for z in (z1, z2, z3):
        ensemble.update(row, z[None])
    # Z_3 = 0.4 z3 + 0.6 * 0.4 z2 + 0.6^2 * 0.4 z1, corrected by 1 - 0.6^3
    expected = (0.4 * z3 + 0.24 * z2 + 0.144 * z1) / (1 - 0.216)
    target, seen = ensemble.targets(torch.tensor([1, 0]))
    assert torch.allclose(target[0], expected, atol=1e-6)
    assert seen.tolist() == [1.0, 0.0]
    assert ensemble.seen.tolist() == [0, 3, 0]


def test_ensemble_target_of_a_constant_prediction_is_that_prediction():
    ensemble = EnsemblePredictions(pool_size=2, num_classes=3, alpha=0.6)
    z = torch.tensor([[0.7, 0.2, 0.1]])
    for t in range(1, 5):
        ensemble.update(torch.tensor([0]), z)
        assert torch.allclose(ensemble.targets(torch.tensor([0]))[0], z, atol=1e-6), f"after {t} updates"


def test_ensemble_state_dict_round_trip_gives_the_same_targets():
    ensemble = EnsemblePredictions(pool_size=4, num_classes=2, alpha=0.6)
    ensemble.update(torch.tensor([0, 2]), torch.tensor([[0.9, 0.1], [0.3, 0.7]]))
    ensemble.update(torch.tensor([2]), torch.tensor([[0.6, 0.4]]))
    fresh = EnsemblePredictions(pool_size=4, num_classes=2, alpha=0.6)
    fresh.load_state_dict(ensemble.state_dict())
    rows = torch.arange(4)
    for mine, theirs in zip(ensemble.targets(rows), fresh.targets(rows)):
        assert torch.equal(mine, theirs)
    assert fresh.targets(rows)[1].tolist() == [1.0, 0.0, 1.0, 0.0]


# 3. VAT

def kl_to(probs: torch.Tensor, model: Classifier, x: torch.Tensor) -> torch.Tensor:
    """Per-example KL(probs || softmax(model(x))), in float64."""
    log_q = F.log_softmax(model({"x": x}), dim=-1)
    return (probs * (probs.log() - log_q)).sum(-1)


def test_vat_direction_is_the_normalised_gradient_of_the_kl_at_xi_d():
    torch.manual_seed(0)
    model = MLP()
    method = make("vat", model, "algorithm.xi=1e-3", "algorithm.power_iterations=1", num_classes=3)
    x = torch.randn(5, 4, dtype=torch.float64)
    probs = torch.softmax(model({"x": x}), dim=-1).detach()
    torch.manual_seed(1)
    direction = method.adversarial_direction(model, {"x": x}, probs)
    torch.manual_seed(1)  # the same random start, then a central finite difference at r = xi * d
    start = torch.randn_like(x)
    r = 1e-3 * start / start.norm(dim=1, keepdim=True)
    h = 1e-6
    gradient = torch.stack([(kl_to(probs, model, x + r + h * e) - kl_to(probs, model, x + r - h * e)) / (2 * h)
                            for e in torch.eye(4, dtype=torch.float64)], dim=1)
    assert torch.allclose(direction.norm(dim=1), torch.ones(5, dtype=torch.float64), atol=1e-6)
    cosine = F.cosine_similarity(direction, gradient, dim=1)
    assert (cosine > 0.99).all(), cosine


def test_vat_power_iterations_find_the_top_eigenvector_of_the_kl_hessian():
    torch.manual_seed(2)
    model = MLP()
    method = make("vat", model, "algorithm.xi=1e-3", "algorithm.power_iterations=20", num_classes=3)
    x = torch.randn(3, 4, dtype=torch.float64)
    probs = torch.softmax(model({"x": x}), dim=-1).detach()
    direction = method.adversarial_direction(model, {"x": x}, probs)
    for i in range(3):
        hessian = torch.autograd.functional.hessian(
            lambda r, i=i: kl_to(probs[i:i + 1], model, x[i:i + 1] + r).sum(), torch.zeros(1, 4, dtype=torch.float64))
        values, vectors = torch.linalg.eigh(hessian.reshape(4, 4))
        assert values[-1] > 1.5 * values[-2]  # a clear top eigenvalue, so the iterations converge
        assert abs(torch.dot(direction[i], vectors[:, -1])) > 0.99


def test_frozen_norm_statistics_leaves_batchnorm_running_statistics_alone():
    norm = nn.BatchNorm1d(4).train()
    x = torch.randn(8, 4) * 3 + 1
    before = {k: v.clone() for k, v in norm.state_dict().items()}
    with frozen_norm_statistics(norm):
        norm(x)
    for key, value in norm.state_dict().items():
        assert torch.equal(value, before[key]), key
    norm(x)
    assert not torch.equal(norm.running_mean, before["running_mean"])
    assert not torch.equal(norm.running_var, before["running_var"])
    assert int(norm.num_batches_tracked) == 1


# 4. ICT

def test_ict_mixes_inputs_and_teacher_targets_with_the_same_lambda_and_partner(monkeypatch):
    monkeypatch.setattr(ict_module, "mixup_weight", lambda alpha: 0.3)
    monkeypatch.setattr(ict_module.torch, "randperm", lambda n, device=None: torch.tensor([2, 0, 1]))
    model = Logits()
    method = make("ict", model)
    x = torch.tensor([[2.0, -1.0], [0.0, 0.5], [-1.5, 1.0]])
    out = method.training_step(model, LABELLED, views(x), progress=1.0)
    perm = torch.tensor([2, 0, 1])
    mixed_input = 0.3 * x + 0.7 * x[perm]
    assert torch.allclose(model.seen[-1], mixed_input)
    p = x.softmax(-1)  # the teacher is still a copy of the student
    target = 0.3 * p + 0.7 * p[perm]
    expected = ((mixed_input.softmax(-1) - target) ** 2).sum(-1).mean() / 2
    assert out.logs["loss/unsupervised"] == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(out.unlabelled_probs, p)


# 5. MixMatch

def test_mixmatch_guess_is_the_sharpened_mean_of_the_views():
    first = torch.tensor([[0.6, 0.3, 0.1]])
    second = torch.tensor([[0.4, 0.5, 0.1]])
    # mean (0.5, 0.4, 0.1); T = 0.5 squares it: (0.25, 0.16, 0.01) / 0.42
    expected = torch.tensor([[0.25, 0.16, 0.01]]) / 0.42
    assert torch.allclose(guess_labels([first, second], 0.5), expected, atol=1e-6)


def test_mixmatch_lambda_prime_is_at_least_one_half():
    torch.manual_seed(0)
    draws = torch.tensor([mixup_weight(0.75, keep_larger=True) for _ in range(2000)])
    assert (draws >= 0.5).all() and (draws <= 1.0).all()
    assert (draws < 0.6).any() and (draws > 0.95).any()  # really drawn, not a constant
    assert mixup_weight(0.0, keep_larger=True) == 1.0


# 6. Entropy minimisation

def test_entropy_min_loss_is_the_mean_entropy():
    method = make("entropy_min", Logits())
    x = logits_of([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    out = method.training_step(method.backbone, LABELLED, views(x), progress=1.0)
    entropies = [math.log(2), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)),
                 -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))]
    assert out.logs["loss/unsupervised"] == pytest.approx(sum(entropies) / 3, rel=1e-5)
    assert out.loss.item() == pytest.approx(out.logs["loss/supervised"] + sum(entropies) / 3, rel=1e-5)


# 7. Thresholds and weights

def test_fixmatch_masks_at_the_fixed_threshold_and_trains_the_strong_view_on_hard_labels():
    method = make("fixmatch", Logits(), "algorithm.threshold=0.95")
    weak = logits_of([[0.97, 0.03], [0.9, 0.1], [0.04, 0.96]])
    strong = logits_of([[0.6, 0.4], [0.5, 0.5], [0.3, 0.7]])
    out = method.training_step(method.backbone, LABELLED, views(weak, strong=strong), progress=1.0)
    assert out.mask.tolist() == [1.0, 0.0, 1.0]
    assert out.logs["loss/unsupervised"] == pytest.approx(-(math.log(0.6) + math.log(0.7)) / 3, rel=1e-5)


def test_flexmatch_thresholds_scale_with_the_learning_effect():
    flex = FlexMatchThreshold(threshold=0.9, pool_size=6, num_classes=2, warmup=True)
    flex.selected.copy_(torch.tensor([0, 0, 0, 1, -1, -1]))
    # sigma = (3, 1), 2 unused: beta = (3, 1) / max(3, 2) = (1, 1/3)
    assert torch.allclose(flex.learning_effect(), torch.tensor([1.0, 1 / 3]))
    flex.selected.copy_(torch.tensor([0, 0, 0, 1, 1, -1]))
    # sigma = (3, 2), 1 unused: beta = (1, 2/3); thresholds tau * beta / (2 - beta) = (0.9, 0.45)
    assert torch.allclose(flex.learning_effect(), torch.tensor([1.0, 2 / 3]))
    probs = torch.tensor([[0.85, 0.15], [0.04, 0.96], [0.93, 0.07], [0.45, 0.55]])
    mask = flex(probs, torch.tensor([5, 0, 4, 3]))
    assert mask.tolist() == [0.0, 1.0, 1.0, 1.0]  # the last passes 0.45, not tau * beta = 0.6
    # confident (> 0.9) examples record their prediction; the others keep what they had
    assert flex.selected.tolist() == [1, 0, 0, 1, 0, -1]


@pytest.mark.parametrize("warmup, beta", [(True, 0.25), (False, 1.0)])
def test_flexmatch_warmup_normalises_by_the_never_selected_examples(warmup, beta):
    flex = FlexMatchThreshold(threshold=0.9, pool_size=6, num_classes=2, warmup=warmup)
    flex.selected.copy_(torch.tensor([0, 1, -1, -1, -1, -1]))
    # sigma = (1, 1), 4 unused: with warm-up beta = 1/4 (threshold 0.9 * 0.25 / 1.75 = 0.129), else 1 (0.9)
    assert torch.allclose(flex.learning_effect(), torch.tensor([beta, beta]))
    mask = flex(torch.tensor([[0.8, 0.2], [0.3, 0.7]]), torch.tensor([2, 3]))
    assert mask.tolist() == ([1.0, 1.0] if warmup else [0.0, 0.0])


def test_freematch_threshold_is_the_ema_of_confidence_scaled_per_class():
    free = FreeMatchThreshold(num_classes=3, momentum=0.5)
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.45, 0.35, 0.2], [0.1, 0.1, 0.8], [0.25, 0.4, 0.35]])
    mask = free(probs)
    third = 1 / 3
    tau = 0.5 * third + 0.5 * (0.7 + 0.45 + 0.8 + 0.4) / 4                              # 0.4604
    class_probs = 0.5 * third + 0.5 * torch.tensor([1.5, 1.05, 1.45]) / 4               # (.354, .298, .348)
    histogram = 0.5 * third + 0.5 * torch.tensor([0.5, 0.25, 0.25])                     # predicted 0, 0, 2, 1
    assert free.tau.item() == pytest.approx(tau, rel=1e-6)
    assert torch.allclose(free.class_probs, class_probs)
    assert torch.allclose(free.histogram, histogram)
    # thresholds tau * p~ / max p~ = (0.460, 0.388, 0.453): the second row (0.45 < 0.460) fails;
    # the fourth (0.40) passes only because its class threshold is scaled down
    thresholds = tau * class_probs / class_probs.max()
    assert thresholds[1] < 0.4 < tau
    assert mask.tolist() == [1.0, 0.0, 1.0, 1.0]


def test_softmatch_weight_is_a_truncated_gaussian_of_the_running_statistics():
    soft = SoftMatchWeight(num_classes=2, n_sigma=2.0, momentum=0.5)
    probs = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])  # confidences .9 .6 .7 .8
    weight = soft(probs)
    mu = 0.5 * 0.5 + 0.5 * 0.75                                  # 0.625
    variance = 0.5 * 1.0 + 0.5 * (0.15 ** 2 * 2 + 0.05 ** 2 * 2) / 3   # unbiased batch variance 0.05 / 3
    assert soft.mean.item() == pytest.approx(mu, rel=1e-6)
    assert soft.variance.item() == pytest.approx(variance, rel=1e-6)
    below = math.exp(-(0.6 - mu) ** 2 / (2 * variance / 2.0 ** 2))
    assert weight.tolist() == pytest.approx([1.0, below, 1.0, 1.0], rel=1e-6)
    # a second batch moves from the current values, not from the start
    weight = soft(torch.tensor([[0.55, 0.45], [0.65, 0.35]]))
    mu2 = 0.5 * mu + 0.5 * 0.6
    variance2 = 0.5 * variance + 0.5 * 0.005  # ((0.05)^2 * 2) / 1
    assert soft.mean.item() == pytest.approx(mu2, rel=1e-6)
    assert soft.variance.item() == pytest.approx(variance2, rel=1e-5)
    assert weight.tolist() == pytest.approx([math.exp(-(0.55 - mu2) ** 2 / (variance2 / 2)), 1.0], rel=1e-5)


def test_adamatch_threshold_is_relative_to_the_labelled_confidence():
    labelled = torch.tensor([[0.9, 0.1], [0.3, 0.7]])  # mean max-prob 0.8: threshold 0.9 * 0.8 = 0.72
    unlabelled = torch.tensor([[0.73, 0.27], [0.29, 0.71], [0.1, 0.9], [0.5, 0.5]])
    assert relative_threshold_mask(unlabelled, labelled, 0.9).tolist() == [1.0, 0.0, 1.0, 0.0]


def test_alignment_track_target_is_an_ema_of_the_labelled_mean():
    align = DistributionAlignment(torch.tensor([1, 1]), momentum=0.5)
    align.track_target(torch.tensor([[0.9, 0.1], [0.7, 0.3]]))
    assert torch.allclose(align.target, torch.tensor([0.65, 0.35]))  # 0.5 * 0.5 + 0.5 * 0.8
    assert torch.allclose(align.running, torch.tensor([0.5, 0.5]))   # untouched by the labelled data
    align.track_target(torch.tensor([[0.5, 0.5]]))
    assert torch.allclose(align.target, torch.tensor([0.575, 0.425]))


# 8. FreeMatch fairness

def test_freematch_fairness_matches_its_formula():
    strong = logits_of([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    mask = torch.tensor([1.0, 1.0, 0.0])
    class_probs, histogram = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0.5, 0.25, 0.25])
    # prior~ = normalise(p~ / h~) = (1, 1.2, 0.8) / 3
    prior = [1 / 3, 0.4, 0.8 / 3]
    # kept: mean (0.4, 0.5, 0.1), predicted 0 and 1, batch histogram (0.5, 0.5, 0):
    # mean~ = normalise(0.8, 1.0, 0 [1/0 taken as 0]) = (4/9, 5/9, 0)
    mean = [4 / 9, 5 / 9, 0.0]
    expected = sum(w * math.log(m + 1e-12) for w, m in zip(prior, mean))
    assert fairness_loss(strong, mask, class_probs, histogram).item() == pytest.approx(expected, rel=1e-5)


def test_freematch_fairness_is_zero_with_a_gradient_path_when_nothing_passes():
    strong = torch.randn(3, 2, requires_grad=True)
    loss = fairness_loss(strong, torch.zeros(3), torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5]))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(strong.grad, torch.zeros(3, 2))


# 9. State that must survive a checkpoint

def test_flexmatch_state_survives_a_checkpoint():
    def flexmatch():
        return make("flexmatch", Logits(), "algorithm.threshold=0.95", pool_size=6)

    method = flexmatch()
    first = logits_of([[0.99, 0.01], [0.98, 0.02], [0.99, 0.01], [0.02, 0.98]])
    method.training_step(method.backbone, LABELLED, views(first, strong=first, index=[0, 1, 2, 3]), progress=1.0)
    assert method.state["threshold"].selected.tolist() == [0, 0, 0, 1, -1, -1]
    restored, fresh = flexmatch(), flexmatch()
    restored.state.load_state_dict(method.state.state_dict())

    second = logits_of([[0.8, 0.2], [0.3, 0.7], [0.97, 0.03]])
    batch = views(second, strong=second, index=[4, 5, 0])
    masks = [m.training_step(m.backbone, LABELLED, batch, progress=1.0).mask for m in (method, restored, fresh)]
    assert masks[0].tolist() == masks[1].tolist() == [0.0, 1.0, 1.0]  # thresholds (0.95, 0.19)
    assert masks[2].tolist() == [1.0, 1.0, 1.0]                         # a fresh record: thresholds 0
    assert torch.equal(method.state["threshold"].selected, restored.state["threshold"].selected)


def test_temporal_ensembling_state_survives_a_checkpoint():
    def ensembling():
        return make("temporal_ensembling", Logits(), pool_size=4)

    method = ensembling()
    for x in (logits_of([[0.9, 0.1], [0.2, 0.8]]), logits_of([[0.7, 0.3], [0.4, 0.6]])):
        method.training_step(method.backbone, LABELLED, views(x, index=[0, 1]), progress=1.0)
    restored, fresh = ensembling(), ensembling()
    restored.state.load_state_dict(method.state.state_dict())

    batch = views(logits_of([[0.5, 0.5], [0.6, 0.4], [0.1, 0.9]]), index=[0, 1, 2])
    outs = [m.training_step(m.backbone, LABELLED, batch, progress=1.0) for m in (method, restored, fresh)]
    assert torch.equal(outs[0].unlabelled_probs, outs[1].unlabelled_probs)
    assert outs[0].mask.tolist() == outs[1].mask.tolist() == [1.0, 1.0, 0.0]
    # row 0 saw 0.9 then 0.7: (0.6 * 0.4 * 0.9 + 0.4 * 0.7) / (1 - 0.36) = 0.775
    assert outs[0].unlabelled_probs[0, 0].item() == pytest.approx(0.775, rel=1e-5)
    assert outs[0].logs["loss/unsupervised"] == pytest.approx(outs[1].logs["loss/unsupervised"])
    assert outs[2].mask.tolist() == [0.0, 0.0, 0.0] and outs[2].logs["loss/unsupervised"] == 0.0


def test_a_text_perturbation_has_unit_norm_over_each_review_and_none_on_padding(tiny_model):
    from textssl.models.hf import HFClassifier

    model = HFClassifier(tiny_model, ["neg", "pos"], max_length=16)
    batch = model.collate(model.preprocess({"text": ["a wonderful film", "a dull tedious overlong film"]}))
    direction = model.normalize_perturbation(torch.randn(*batch["input_ids"].shape, 64), batch)
    assert direction.flatten(1).norm(dim=1).tolist() == pytest.approx([1.0, 1.0])
    padding = batch["attention_mask"] == 0
    assert padding.any() and direction[padding].abs().max() == 0


# 9. The pool's class prior

def test_em_recovers_the_pool_prior_from_posteriors_under_a_balanced_training_prior():
    torch.manual_seed(0)
    labels = (torch.rand(20_000) < 0.2).long()  # the pool: 80 % class 0, 20 % class 1
    x = torch.randn(20_000) + torch.where(labels == 1, 1.0, -1.0)
    posterior_1 = torch.sigmoid(2 * x)  # exact posterior when both classes are equally likely
    probs = torch.stack([1 - posterior_1, posterior_1], dim=1)
    assert probs.argmax(1).float().mean() > 0.25  # read as they are, the posteriors overstate class 1

    estimate = PriorEstimate(torch.tensor([10, 10]), momentum=0.9)
    for batch in probs.split(64):
        prior = estimate(batch)
    assert prior.tolist() == pytest.approx([0.8, 0.2], abs=0.03)


@pytest.mark.parametrize("option, expected", [("labelled", [0.5, 0.5]), ("uniform", [0.5, 0.5]),
                                              ("pool", [0.7, 0.3]), ("auto", [0.7, 0.3])])
def test_alignment_aligns_to_the_prior_the_recipe_names(option, expected):
    config = load_config(None, ["algorithm.name=fixmatch", "algorithm.distribution_alignment=true",
                                f"algorithm.alignment_prior={option}"]).algorithm
    method = algorithm_class("fixmatch")(config)
    method.setup(Logits(), RunContext(num_classes=2, pool_size=8, labelled_counts=torch.tensor([4, 4]),
                                      pool_prior=torch.tensor([0.7, 0.3])))
    assert method.state["alignment"].target.tolist() == pytest.approx(expected)
    assert "pool_prior" not in method.state  # given, so not estimated


def test_automatic_alignment_without_a_known_pool_prior_aligns_to_the_labelled_draw():
    method = make("fixmatch", Logits(), "algorithm.distribution_alignment=true")
    method.setup(Logits(), RunContext(num_classes=2, pool_size=8, labelled_counts=torch.tensor([6, 2])))
    assert method.state["alignment"].target.tolist() == pytest.approx([0.75, 0.25])
    assert "pool_prior" not in method.state


def test_an_unknown_pool_prior_is_estimated_and_followed_by_the_alignment():
    method = make("fixmatch", Logits(), "algorithm.distribution_alignment=true", "algorithm.alignment_prior=pool",
                  "algorithm.alignment_momentum=0")
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6]])
    method.align(probs)
    assert torch.allclose(method.state["alignment"].target, method.state["pool_prior"].estimate)
    assert method.state["alignment"].target[0] > 0.7


# Statistics of the global batch under several processes

class ThreadGather:
    """An all-gather across threads that stand in for processes: each rank's tensor, in rank order."""

    def __init__(self, world: int):
        self.barrier, self.slots = threading.Barrier(world, timeout=60), [None] * world  # a failing rank breaks it

    def for_rank(self, rank: int):
        def gather(tensor: torch.Tensor) -> torch.Tensor:
            self.slots[rank] = tensor
            self.barrier.wait()
            everyone = torch.cat(self.slots)
            self.barrier.wait()  # no rank overwrites its slot before every rank has read
            return everyone
        return gather


@pytest.mark.parametrize("name, overrides", [
    ("fixmatch", ["algorithm.confident_share=0.5", "algorithm.threshold=0.6"]),
    ("uda", ["algorithm.confident_share=0.5", "algorithm.threshold=0.6"]),  # and TSA's count of kept labels
    ("adamatch", ["algorithm.momentum=0"]),
    ("freematch", ["algorithm.fairness_weight=0"]),  # the fairness term is per process (README)
    ("softmatch", []),
    ("fixmatch", ["algorithm.distribution_alignment=true", "algorithm.alignment_momentum=0.5"]),
])
def test_two_processes_see_the_statistics_of_the_global_batch(name, overrides):
    labelled = {"x": logits_of([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.45, 0.55]]), "labels": torch.tensor([0, 1, 1, 1])}
    weak = logits_of([[0.9, 0.1], [0.85, 0.15], [0.8, 0.2], [0.3, 0.7], [0.95, 0.05], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]])
    unlabelled = views(weak, strong=weak.flip(1))

    def run(method, labelled, unlabelled):
        out = method.training_step(method.backbone, labelled, unlabelled, progress=0.5)
        return out.loss.item(), out.mask, out.unlabelled_probs

    one = run(make(name, Logits(), *overrides), labelled, unlabelled)
    world, results = ThreadGather(2), [None, None]

    def rank(r: int) -> None:
        method = make(name, Logits(), *overrides, gather=world.for_rank(r), num_processes=2, process_index=r)
        share = {key: value[2 * r:2 * r + 2] for key, value in labelled.items()}
        rows = slice(4 * r, 4 * r + 4)
        results[r] = run(method, share, views(weak[rows], strong=weak.flip(1)[rows], index=range(8)[rows]))

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torch.equal(torch.cat([results[0][1], results[1][1]]), one[1])  # the same examples kept
    assert torch.allclose(torch.cat([results[0][2], results[1][2]]), one[2])  # the same targets
    # the processes' mean loss (what averaging their gradients trains) is the global batch's
    assert (results[0][0] + results[1][0]) / 2 == pytest.approx(one[0], rel=1e-6)


# Options a method cannot honour are refused, never ignored

def step_with(name: str, *overrides: str):
    """The output of one step of `name` on a skewed unlabelled batch that every threshold passes."""
    torch.manual_seed(0)
    method = make(name, Logits(), *overrides, labelled_counts=torch.tensor([1, 3]))
    weak = logits_of([[0.999, 0.001], [0.998, 0.002], [0.997, 0.003], [0.996, 0.004], [0.995, 0.005],
                      [0.994, 0.006], [0.002, 0.998], [0.001, 0.999]])
    batch = Views([{"x": weak}] * method.needs.weak_views, [{"x": weak.flip(1)}] * method.needs.strong_views, torch.arange(8))
    return method.training_step(method.backbone, LABELLED, batch, progress=1.0)


@pytest.mark.parametrize("name", SEMI_SUPERVISED)
def test_distribution_alignment_is_refused_by_the_methods_it_would_not_change(name):
    option = ["algorithm.distribution_alignment=true", "algorithm.alignment_momentum=0"]
    if algorithm_class(name).refuses_alignment:
        with pytest.raises(TextsslError, match=rf"^algorithm.distribution_alignment: {name} does not take it \("):
            make(name, Logits(), *option)
        return
    # the batch leans 6:2 to class 0 and the labelled draw 1:3 to class 1 (softmatch's own
    # alignment is to uniform): the aligned targets move
    plain, aligned = step_with(name), step_with(name, *option)
    assert not torch.allclose(plain.unlabelled_probs, aligned.unlabelled_probs)


@pytest.mark.parametrize("name", SEMI_SUPERVISED)
def test_confident_share_is_refused_by_the_methods_without_a_fixed_threshold(name):
    if not algorithm_class(name).masks_by_confidence:
        with pytest.raises(TextsslError, match=rf"^algorithm.confident_share: {name} has no fixed-threshold mask"):
            make(name, Logits(), "algorithm.confident_share=0.5")
        return
    assert step_with(name).mask.sum() == 8
    assert step_with(name, "algorithm.confident_share=0.5").mask.tolist() == [1, 1, 1, 0, 0, 0, 0, 1]

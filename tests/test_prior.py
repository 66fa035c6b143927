import numpy as np
import pytest
import torch
from scipy.special import softmax
from torch import nn

from textssl.errors import TextsslError
from textssl.prior import PriorShift, bbse_prior, calibrate, em_prior, estimate_shift, matching_offset

MEANS = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5], [1.5, 1.5]])
"""Four Gaussian classes in the plane, unit variance, overlapping: posteriors far from 0 and 1."""


def sample(prior: list[float], size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(prior), size=size, p=prior)
    return MEANS[labels] + rng.standard_normal((size, 2)), labels


def bayes_logits(points: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The exact log-posteriors (up to a constant) under `prior`."""
    return -0.5 * ((points[:, None, :] - MEANS[None]) ** 2).sum(-1) + np.log(prior)


def test_em_recovers_a_known_prior_from_exact_posteriors():
    uniform, true = np.full(4, 0.25), np.array([0.55, 0.25, 0.15, 0.05])
    points, _ = sample(true.tolist(), 20_000, seed=0)
    estimate = em_prior(softmax(bayes_logits(points, uniform)), uniform)
    assert np.abs(estimate - true).max() < 0.02
    assert np.abs(softmax(bayes_logits(points, uniform)).mean(0) - true).max() > 0.08  # the mean posterior is not it


def test_bbse_recovers_a_known_prior_from_a_confusion_matrix():
    uniform, true = np.full(4, 0.25), np.array([0.1, 0.2, 0.3, 0.4])
    held_out, held_out_labels = sample(uniform.tolist(), 4_000, seed=1)
    pool, _ = sample(true.tolist(), 20_000, seed=2)
    skewed = np.log([0.7, 0.1, 0.1, 0.1])  # a miscalibrated model: BBSE only needs its confusion matrix
    estimate = bbse_prior(softmax(bayes_logits(held_out, uniform) + skewed), held_out_labels,
                          softmax(bayes_logits(pool, uniform) + skewed))
    assert np.abs(estimate - true).max() < 0.03


def test_calibration_undoes_a_temperature_and_a_bias():
    uniform = np.full(4, 0.25)
    points, labels = sample(uniform.tolist(), 5_000, seed=3)
    bias = np.array([1.0, -0.5, 0.0, -0.5])
    temperature, fitted_bias = calibrate(3.0 * (bayes_logits(points, uniform) + bias), labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert np.abs(fitted_bias - (-bias + bias.mean())).max() < 0.15


@pytest.mark.parametrize("estimator", ["em", "bbse"])
def test_the_shift_moves_the_decision_to_the_pool_prior(estimator):
    uniform, true = np.full(4, 0.25), np.array([0.55, 0.25, 0.15, 0.05])
    held_out, held_out_labels = sample(uniform.tolist(), 2_000, seed=4)
    pool, _ = sample(true.tolist(), 10_000, seed=5)
    test, test_labels = sample(true.tolist(), 10_000, seed=6)
    overconfident = lambda points: 4.0 * bayes_logits(points, uniform)  # noqa: E731
    raw = overconfident(test).argmax(-1)
    shares = {}
    for decision in ("bayes", "shares"):
        shift = estimate_shift(overconfident(pool), uniform, estimator=estimator, decision=decision,
                               held_out_logits=overconfident(held_out), held_out_labels=held_out_labels, bootstrap=5)
        assert np.abs(np.array(shift.pool_prior) - true).max() < (0.03 if estimator == "em" else 0.04)  # BBSE: noisier
        assert shift.temperature == pytest.approx(4.0, rel=0.15)
        assert shift.spread < 0.05
        adjusted = shift.adjust(overconfident(test)).argmax(-1)
        assert (adjusted == test_labels).mean() > (raw == test_labels).mean() + 0.03
        shares[decision] = np.bincount(adjusted, minlength=4) / len(test)
    # Where classes overlap, the most accurate rule gives the larger class more than its share.
    assert shares["bayes"][0] > true[0] + 0.08
    assert np.abs(shares["shares"] - true).max() < 0.04


def test_the_bounded_rule_gains_accuracy_over_shares_within_its_tolerance():
    uniform, true = np.full(4, 0.25), np.array([0.55, 0.25, 0.15, 0.05])
    held_out, held_out_labels = sample(uniform.tolist(), 2_000, seed=4)
    pool, _ = sample(true.tolist(), 10_000, seed=5)
    test, test_labels = sample(true.tolist(), 10_000, seed=6)
    accuracy, shares = {}, {}
    for decision, tolerance in (("shares", 0.0), ("bounded", 0.05), ("bayes", 0.0)):
        shift = estimate_shift(bayes_logits(pool, uniform), uniform, decision=decision, tolerance=tolerance,
                               held_out_logits=bayes_logits(held_out, uniform), held_out_labels=held_out_labels,
                               bootstrap=0)
        pool_shares = np.bincount(shift.adjust(bayes_logits(pool, uniform)).argmax(-1), minlength=4) / len(pool)
        adjusted = shift.adjust(bayes_logits(test, uniform)).argmax(-1)
        accuracy[decision], shares[decision] = (adjusted == test_labels).mean(), pool_shares
        assert shift.tolerance == tolerance
    assert np.abs(shares["bounded"] - np.array(shift.pool_prior)).max() <= 0.05
    assert np.abs(shares["bayes"] - np.array(shift.pool_prior)).max() > 0.08
    assert accuracy["bounded"] > accuracy["shares"] + 0.005
    assert accuracy["bounded"] > accuracy["bayes"] - 0.005


def test_a_known_prior_is_taken_as_it_is():
    uniform = np.full(4, 0.25)
    points, _ = sample(uniform.tolist(), 500, seed=7)
    shift = estimate_shift(bayes_logits(points, uniform), uniform, known_prior=np.array([2.0, 1.0, 1.0, 0.0]))
    assert shift.estimator == "given" and shift.spread == 0.0
    assert shift.pool_prior[:3] == pytest.approx([0.5, 0.25, 0.25], abs=1e-3)


def test_bbse_without_held_out_labels_is_a_clear_error():
    with pytest.raises(TextsslError, match="bbse needs held-out labels"):
        estimate_shift(np.zeros((10, 2)), np.full(2, 0.5), estimator="bbse")


def test_folding_the_shift_into_the_output_layer_gives_the_adjusted_logits(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    inputs = torch.randn(16, 5)
    before = model(inputs).detach().numpy()
    shift = PriorShift(pool_prior=[0.7, 0.2, 0.1], reference_prior=[0.4, 0.3, 0.3], offset=[0.5, -0.2, -0.3],
                       temperature=2.0)
    shift.save(tmp_path)
    PriorShift.read(tmp_path).fold_into(model, num_classes=3)
    assert np.allclose(model(inputs).detach().numpy(), shift.adjust(before), atol=1e-5)
    assert PriorShift.read(tmp_path / "elsewhere") is None


def test_a_model_without_a_biased_output_layer_cannot_take_the_shift():
    model = nn.Sequential(nn.Linear(5, 3, bias=False))
    with pytest.raises(TextsslError, match="data.prior=labelled"):
        PriorShift([0.5, 0.3, 0.2], [1 / 3] * 3, offset=[0.4, -0.1, -0.3]).fold_into(model, num_classes=3)


def test_labels_drawn_at_random_outweigh_a_model_that_cannot_tell_the_classes_apart():
    rng, balanced = np.random.default_rng(9), np.full(2, 0.5)
    useless = lambda size: 0.3 * rng.standard_normal((size, 2))  # noqa: E731
    per_class = np.repeat([0, 1], 10)
    alone = estimate_shift(useless(5_000), balanced, held_out_logits=useless(20), held_out_labels=per_class,
                           bootstrap=5)
    pooled = estimate_shift(useless(5_000), balanced, held_out_logits=useless(20), held_out_labels=per_class,
                            observed=np.array([40, 160]), bootstrap=5)
    assert pooled.pool_prior[0] == pytest.approx(0.2, abs=0.03)
    assert pooled.spread < alone.spread / 3
    assert (alone.observed, pooled.observed) == (0, 200)
    held_out_labels = rng.choice(2, size=1_000, p=[0.2, 0.8])
    from_dev = estimate_shift(useless(5_000), balanced, held_out_logits=useless(1_000),
                              held_out_labels=held_out_labels, observed=np.bincount(held_out_labels), bootstrap=5)
    assert from_dev.pool_prior[0] == pytest.approx(1 - held_out_labels.mean(), abs=0.01)


def test_a_model_that_tells_the_classes_apart_outweighs_a_few_random_labels():
    uniform, true = np.full(4, 0.25), np.array([0.55, 0.25, 0.15, 0.05])
    held_out, held_out_labels = sample(uniform.tolist(), 2_000, seed=10)
    pool, _ = sample(true.tolist(), 10_000, seed=11)
    separable = lambda points: 3.0 * bayes_logits(points / 0.3, uniform)  # noqa: E731
    shift = estimate_shift(separable(pool), uniform, held_out_logits=separable(held_out),
                           held_out_labels=held_out_labels, observed=np.array([5, 5, 5, 5]), bootstrap=5)
    assert np.abs(np.array(shift.pool_prior) - true).max() < 0.02


def test_a_model_that_predicts_the_larger_class_only_is_moved_though_its_draw_had_the_pool_prior():
    rng, pool_prior = np.random.default_rng(13), np.array([0.2, 0.8])
    labels = lambda size: rng.choice(2, size=size, p=pool_prior)  # noqa: E731

    def biased(truth: np.ndarray) -> np.ndarray:  # the smaller class's logit never reaches the larger's
        return np.stack([(truth == 0) - 1.6, np.zeros(len(truth))], -1) + rng.normal(0, 0.3, (len(truth), 2))

    pool, dev_labels, test_labels = labels(5_000), labels(500), labels(5_000)
    shift = estimate_shift(biased(pool), pool_prior, held_out_logits=biased(dev_labels), held_out_labels=dev_labels,
                           observed=np.bincount(dev_labels) + np.array([4, 16]), bootstrap=5)
    predicted = np.bincount(biased(pool).argmax(-1), minlength=2) / len(pool)
    assert predicted[0] < 0.03 and not shift.departs_from(pool_prior) and shift.departs_from(predicted)
    moved = np.bincount(shift.adjust(biased(test_labels)).argmax(-1), minlength=2) / len(test_labels)
    assert moved[0] == pytest.approx(0.2, abs=0.03)


def test_the_shares_rule_gives_each_class_its_share_where_the_margins_are_narrow():
    logits = np.random.default_rng(12).normal([0.0, 1.4], 0.05, size=(5_000, 2))  # every margin within 0.4 of -1.4
    shares = np.bincount((logits + matching_offset(logits, np.array([0.2, 0.8]))).argmax(-1), minlength=2) / 5_000
    assert shares == pytest.approx([0.2, 0.8], abs=1e-3)

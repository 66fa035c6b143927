"""The unlabelled pool's class prior, and the decision rule that follows it.

A model trained on a labelled draw of 10 per class learns that draw's prior (50/50); a pool
that is 80/20 needs another decision rule. After training, the run estimates the pool's
prior and moves the model's logits to it by rewriting its output layer, so the saved model
decides with the pool's prior wherever it is loaded (`predict`, `evaluate`, `textssl.load`, a
transformers pipeline, a noisy student's teacher, the Hub); `prior.json` beside the weights
says what was folded in.

    calibration   T, b = argmin NLL(softmax(z / T + b)) on held-out labels    (BCTS, Alexandari et al. 2020)
    EM            pi <- mean_i normalise(q_i * pi / pi_ref)                 (Saerens et al. 2002)
    BBSE          pi = pi_ref * C^-1 mu, C_ij = E_ref[q_i | y = j] pi_ref_j  (Lipton et al. 2018, soft)
    pooling       pi <- the model's pi and the shares of labels drawn at random, by inverse variance
    decision      shares:  z' = z / T + b + d, d such that argmax z' gives each class its share pi of the pool
                  bayes:   z' = z / T + b + log pi - log pi_ref
                  bounded: z' = z / T + b + d + w (log pi - log pi_ref - d), the largest w in [0, 1] whose
                           argmax shares of the pool stay within a tolerance of pi

q are the calibrated posteriors, under the prior pi_ref of the set they were calibrated on
(the dev labels; without them the raw posteriors, under the labelled draw's prior).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch
from scipy.special import softmax
from torch import nn

from textssl.atomic import write_whole
from textssl.errors import TextsslError

Array = TypeVar("Array", np.ndarray, torch.Tensor)
PRIOR_FILE = "prior.json"
FLOOR = 1e-4
"""No share is estimated below this: log pi stays finite, and a class is never ruled out."""


def normalise(shares: np.ndarray) -> np.ndarray:
    shares = np.clip(shares, FLOOR, None)
    return shares / shares.sum()


def predicted_shares(logits: np.ndarray) -> np.ndarray:
    """The share of each class among the argmax decisions on `logits` (rows x classes)."""
    return np.bincount(logits.argmax(-1), minlength=logits.shape[-1]) / len(logits)


def calibrate(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Bias-corrected temperature scaling: the T and b that minimise the NLL of
    softmax(logits / T + b) on held-out labelled examples."""
    z, y = torch.as_tensor(logits, dtype=torch.float64), torch.as_tensor(labels)
    log_temperature = torch.zeros((), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_temperature, bias], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = nn.functional.cross_entropy(z / log_temperature.exp() + bias, y)
        value = value + 1e-3 * log_temperature ** 2  # keeps T finite on a set the model separates
        value.backward()
        return value

    optimiser.step(loss)
    bias = bias.detach() - bias.detach().mean()
    return float(log_temperature.detach().exp()), bias.numpy()


def em_step(posteriors: Array, prior: Array, reference_prior: Array) -> Array:
    """One EM update of the prior of the examples whose `posteriors` were computed under
    `reference_prior` (NumPy arrays or torch tensors)."""
    adjusted = posteriors * (prior / reference_prior)
    return (adjusted / adjusted.sum(-1)[..., None]).mean(0)


def em_prior(posteriors: np.ndarray, reference_prior: np.ndarray, iterations: int = 1000,
             tolerance: float = 1e-8) -> np.ndarray:
    """The prior of the examples whose `posteriors` were computed under `reference_prior`,
    by EM to its fixed point."""
    prior = reference_prior.copy()
    for _ in range(iterations):
        updated = normalise(em_step(posteriors, prior, reference_prior))
        if np.abs(updated - prior).max() < tolerance:
            return updated
        prior = updated
    return prior


def em_variance(posteriors: np.ndarray, reference_prior: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per class, the asymptotic variance of EM's estimate `prior`: the inverse of the observed
    information of the likelihood sum_i log sum_k q_ik pi_k / pi_ref_k, unbounded where the
    posteriors do not change with the class (no example then tells anything of the prior)."""
    ratios = posteriors / reference_prior
    scores = (ratios[:, :-1] - ratios[:, -1:]) / (ratios @ prior)[:, None]  # d log-likelihood / d pi_1..K-1
    covariance = np.linalg.inv(scores.T @ scores + 1e-12 * np.eye(len(prior) - 1))
    return np.append(np.diag(covariance), covariance.sum())


def observed_shares(counts: np.ndarray) -> np.ndarray:
    """The class shares that labels drawn at random show, add-one smoothed: no class is certain,
    or ruled out, from a few labels."""
    return (counts + 1) / (counts.sum() + len(counts))


def pooled(estimate: np.ndarray, spread: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model's estimate of the prior (with its per-class standard deviation `spread`) and
    the class `counts` of labels drawn at random, combined class by class with inverse-variance
    weights; and the combination's standard deviation."""
    shares = observed_shares(counts)
    labels_variance = shares * (1 - shares) / counts.sum()
    model_variance = np.maximum(spread, FLOOR) ** 2
    weight = labels_variance / (labels_variance + model_variance)
    return normalise(weight * estimate + (1 - weight) * shares), np.sqrt(1 / (1 / labels_variance + 1 / model_variance))


def bbse_prior(reference_posteriors: np.ndarray, reference_labels: np.ndarray, posteriors: np.ndarray) -> np.ndarray:
    """Black-box shift estimation with soft predictions: the prior pi for which the labelled
    set's confusion matrix, re-weighted by pi / pi_ref, gives the pool's mean prediction."""
    classes = reference_posteriors.shape[1]
    reference_prior = np.bincount(reference_labels, minlength=classes) / len(reference_labels)
    joint = np.stack([reference_posteriors[reference_labels == label].mean(0) if reference_prior[label] else
                      np.zeros(classes) for label in range(classes)], axis=1) * reference_prior
    weights = np.linalg.lstsq(joint, posteriors.mean(0), rcond=None)[0]
    return normalise(np.clip(weights, 0, None) * reference_prior)


def decision_offset(logits: np.ndarray, prior: np.ndarray, reference: np.ndarray, decision: str,
                    tolerance: float = 0.0) -> np.ndarray:
    """The offset a decision rule adds to the calibrated `logits` of the pool, whose posteriors are
    under `reference`, for the pool's `prior` (the rules: the module's docstring)."""
    bayes = np.log(prior) - np.log(reference)
    if decision == "bayes":
        return bayes
    shares = matching_offset(logits, prior)
    if decision == "bounded":  # expected accuracy rises toward the Bayes rule: the nearest one within bounds
        for weight in np.linspace(1, 0, 101):
            offset = shares + weight * (bayes - shares)
            if np.abs(predicted_shares(logits + offset) - prior).max() <= tolerance:
                return offset
    return shares


def matching_offset(logits: np.ndarray, prior: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Offsets d such that argmax(logits + d) gives each class its share of `prior` (the closest
    found: hard shares move in steps). Each class's offset in turn is set exactly, from the
    quantile of its margin over the others, until the shares stop moving."""
    offset = np.zeros(logits.shape[1])
    best, best_gap = offset.copy(), np.inf
    for _ in range(iterations):
        for label in range(len(prior)):
            rivals = np.delete(logits + offset, label, axis=1).max(-1)
            offset[label] = -np.quantile(logits[:, label] - rivals, 1 - prior[label])
        shares = predicted_shares(logits + offset)
        gap = np.abs(shares - prior).max()
        if gap < best_gap:
            best, best_gap = offset.copy(), gap
        if gap <= 1 / len(logits):
            break
    return best - best.mean()


@dataclass
class PriorShift:
    """The decision rule of a model whose pool prior was estimated: what `prior.json` holds.
    The adjusted logits are logits / temperature + offset."""

    pool_prior: list[float]
    """The unlabelled pool's class shares, in label order: estimated, or `data.class_prior`."""
    reference_prior: list[float]
    """The prior the model's calibrated posteriors are under."""
    offset: list[float]
    temperature: float = 1.0
    estimator: str = "em"
    """em | bbse | given (`data.class_prior`)."""
    decision: str = "shares"
    """bayes: the posteriors re-weighted to the pool's prior (the most accurate rule when they are
    calibrated) | shares: the offsets that give each class its share of the pool's predictions
    (where classes overlap, the Bayes rule gives the larger class more than its share) | bounded:
    the nearest to bayes whose predicted shares on the pool stay within `tolerance` of the prior."""
    tolerance: float = 0.0
    """bounded: how far a class's predicted share on the pool may fall from its share of the prior."""
    observed: int = 0
    """Labels drawn at random (all of dev, a random labelled draw) pooled into the estimate."""
    spread: float = 0.0
    """The largest standard deviation of a class share (from resampling the pool and the
    calibration set; for EM at least its asymptotic one; pooled with the labels drawn at
    random): how far the estimate can be trusted (`departs_from`)."""

    def departs_from(self, shares: np.ndarray) -> bool:
        """Whether the pool's prior differs from `shares` (what the model predicts on the pool, or
        the prior it was trained under) by more than three times the estimate's spread: evidence
        enough to move the decision (a given prior always is)."""
        return self.estimator == "given" or np.abs(np.asarray(self.pool_prior) - shares).max() > 3 * self.spread

    def adjust(self, logits: np.ndarray) -> np.ndarray:
        return logits / self.temperature + np.asarray(self.offset)

    def fold_into(self, model: nn.Module, num_classes: int) -> None:
        """Make `model`'s logits the adjusted ones by rewriting its output layer."""
        layer = output_layer(model, num_classes)
        with torch.no_grad():
            layer.weight.div_(self.temperature)
            layer.bias.div_(self.temperature).add_(torch.as_tensor(self.offset, dtype=layer.bias.dtype))

    def unfold_from(self, model: nn.Module, num_classes: int) -> None:
        """Undo `fold_into`: the model's logits as trained."""
        layer = output_layer(model, num_classes)
        with torch.no_grad():
            layer.weight.mul_(self.temperature)
            layer.bias.sub_(torch.as_tensor(self.offset, dtype=layer.bias.dtype)).mul_(self.temperature)

    def save(self, folder: Path) -> None:
        write_whole(Path(folder) / PRIOR_FILE, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> PriorShift | None:
        path = Path(folder) / PRIOR_FILE
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as error:
            raise TextsslError(f"{path}: not a prior file textssl wrote ({error})") from None


def output_layer(model: nn.Module, num_classes: int) -> nn.Linear:
    """The linear layer whose outputs are the logits: the last one with `num_classes` outputs."""
    layers = [module for module in model.modules() if isinstance(module, nn.Linear)
              and module.out_features == num_classes and module.bias is not None]
    if not layers:
        raise TextsslError(f"the model has no linear output layer with {num_classes} outputs and a bias, so its "
                           f"decision rule cannot be moved to the pool's prior; set data.prior=labelled")
    return layers[-1]


class Fit(NamedTuple):
    """The model's estimate of the pool's prior, from its calibrated posteriors on the pool, which
    are under `reference` (the calibration set's prior); the calibration is z / temperature + bias."""

    prior: np.ndarray
    posteriors: np.ndarray
    reference: np.ndarray
    temperature: float
    bias: np.ndarray


@dataclass
class PriorEstimate:
    """The pool's prior as `estimate_prior` found it, before a decision rule is chosen."""

    prior: np.ndarray
    reference: np.ndarray
    """The prior of the calibration set, which the calibrated posteriors are under."""
    temperature: float
    bias: np.ndarray
    estimator: str
    observed: int
    spread: float

    def shift(self, pool_logits: np.ndarray, decision: str = "shares", tolerance: float = 0.0) -> PriorShift:
        """The shift that makes the model decide with this prior by `decision`'s rule."""
        calibrated = pool_logits / self.temperature + self.bias
        offset = self.bias + decision_offset(calibrated, self.prior, self.reference, decision, tolerance)
        return PriorShift(pool_prior=self.prior.tolist(), reference_prior=self.reference.tolist(),
                          offset=offset.tolist(), temperature=self.temperature, estimator=self.estimator,
                          decision=decision, tolerance=tolerance if decision == "bounded" else 0.0,
                          observed=self.observed, spread=self.spread)


def estimate_shift(pool_logits: np.ndarray, reference_prior: np.ndarray, *, decision: str = "shares",
                   tolerance: float = 0.0, **estimation: Any) -> PriorShift:
    """`estimate_prior`, and the shift to the estimate by `decision`'s rule."""
    return estimate_prior(pool_logits, reference_prior, **estimation).shift(pool_logits, decision, tolerance)


def estimate_prior(pool_logits: np.ndarray, reference_prior: np.ndarray, *, estimator: str = "em",
                   held_out_logits: np.ndarray | None = None, held_out_labels: np.ndarray | None = None,
                   observed: np.ndarray | None = None, known_prior: np.ndarray | None = None,
                   bootstrap: int = 20, seed: int = 0) -> PriorEstimate:
    """The pool's prior from the model's logits on the pool.

    With held-out labels the logits are calibrated on them first, and the posteriors are then
    under the held-out set's prior; without, the raw posteriors are read as under
    `reference_prior` (the labelled draw's). BBSE needs the held-out labels. Labels drawn at
    random from the pool's distribution (a dev split as given, not drawn per class; a random
    labelled draw) observe its prior directly: their class counts `observed` and the model's
    estimate are pooled by inverse variance (the model's from resampling the pool and the
    held-out set), so a model that tells the classes apart poorly, whose estimate wanders,
    weighs little. A `known_prior` (`data.class_prior`) is taken as it is; the logits are still
    calibrated.
    """
    labelled = held_out_labels is not None and len(held_out_labels) > 0
    if estimator == "bbse" and not labelled and known_prior is None:
        raise TextsslError("data.prior_estimator=bbse needs held-out labels (a dev split); use em")
    classes = pool_logits.shape[1]

    def fit(pool: np.ndarray, rows: np.ndarray | None) -> Fit:
        if not labelled:
            posteriors = softmax(pool, axis=-1)
            prior = normalise(known_prior) if known_prior is not None else em_prior(posteriors, reference_prior)
            return Fit(prior, posteriors, reference_prior, 1.0, np.zeros(classes))
        logits, labels = held_out_logits[rows], held_out_labels[rows]
        temperature, bias = calibrate(logits, labels)
        reference = normalise(np.bincount(labels, minlength=classes) / len(labels))
        posteriors = softmax(pool / temperature + bias, axis=-1)
        if known_prior is not None:
            prior = normalise(known_prior)
        elif estimator == "em":
            prior = em_prior(posteriors, reference)
        else:
            prior = bbse_prior(softmax(logits / temperature + bias, axis=-1), labels, posteriors)
        return Fit(prior, posteriors, reference, temperature, bias)

    everyone = np.arange(len(held_out_labels)) if labelled else None
    prior, posteriors, reference, temperature, bias = fit(pool_logits, everyone)
    counts = np.zeros(classes) if observed is None or known_prior is not None else np.asarray(observed, float)
    if known_prior is not None:
        spread = np.zeros(classes)
    else:
        rng = np.random.default_rng(seed)
        resampled = np.array([fit(pool_logits[rng.integers(0, len(pool_logits), len(pool_logits))],
                                  rng.integers(0, len(everyone), len(everyone)) if labelled else None).prior
                              for _ in range(bootstrap)]).reshape(bootstrap, classes)
        finite = resampled[np.isfinite(resampled).all(-1)]  # a resample's calibration can diverge
        spread = (np.zeros(classes) if not bootstrap else finite.std(0) if len(finite) > 1
                  else np.full(classes, np.inf))
        if estimator == "em":  # resampling cannot see a likelihood that is flat around the estimate
            spread = np.sqrt(np.maximum(spread ** 2, em_variance(posteriors, reference, prior)))
        if counts.sum():
            prior, spread = pooled(prior, spread, counts)
    return PriorEstimate(prior, reference, temperature, bias, "given" if known_prior is not None else estimator,
                         int(counts.sum()), float(spread.max()))

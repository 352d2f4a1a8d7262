"""Loss functions of the likelihood-ratio methods, one class per method.

Every loss is a callable ``loss(outputs, batch) -> dict`` mapping component names to scalar tensors; its
``total`` method weights and sums them, and its ``value_and_gradients`` method gives the total and its
derivatives with respect to the network outputs in closed form, from shared intermediate results (the
training step of the networks' hand-written backward passes; the base class falls back to autograd).
``outputs`` holds the network outputs (``"log_r_hat"`` of shape ``(n, 1)`` and, for methods with a score
term, ``"t_hat"`` of shape ``(n, P)``); ``batch`` holds the training data (``"y"``, ``"r_xz"``, ``"t_xz"``,
...). Each class declares which augmented data it needs in ``requires`` and whether it needs the network's
score in ``needs_score``.

Conventions (label ``y = 0``: sampled from the numerator ``theta``; ``y = 1``: from the reference):

* cross-entropies work on logits: ``s_hat = 1 / (1 + r_hat) = sigmoid(-log r_hat)``, so
  ``BCEWithLogits(-log r_hat, target)`` is the numerically stable form of MadMiner's ``BCE(s_hat, target)``;
* ROLR clamps ``log r_hat`` and ``r_xz`` to ``[-10, 10]`` (in log space) exactly as MadMiner;
* the score term is the squared error of ``t_hat`` against ``t_xz`` **averaged over the y = 0 samples only**
  (and over the parameter components): an estimate of E_{x ~ theta}[(t_hat - t)^2] that does not depend on
  the class balance. MadMiner averages the masked errors over *all* samples including the zeros, which
  scales its score term by the fraction of numerator samples (1/2 for ``sample_train_ratio`` output); so
  ``alpha`` here corresponds to ``2 * alpha`` in MadMiner (use ``alpha / 2`` to reproduce a MadMiner run).
"""

from __future__ import annotations

import logging
import math

import torch
from torch.nn import functional as F

from motherlode.errors import InputError

__all__ = [
    "DOUBLE_LOSSES",
    "LOG_R_CLAMP",
    "LOSSES",
    "Alice2Loss",
    "AliceLoss",
    "Alices2Loss",
    "AlicesLoss",
    "Carl2Loss",
    "CarlLoss",
    "Cascal2Loss",
    "CascalLoss",
    "Loss",
    "Rascal2Loss",
    "RascalLoss",
    "Rolr2Loss",
    "RolrLoss",
    "get_double_loss",
    "get_loss",
    "score_mse_numerator",
    "score_mse_numerator_gradient",
]

logger = logging.getLogger(__name__)

LOG_R_CLAMP = 10.0
"""ROLR's clamp of ``log r_hat`` and ``log r_xz`` (MadMiner's)."""

Tensors = dict[str, torch.Tensor]


def score_mse_numerator(t_hat: torch.Tensor, t_xz: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared score error over the numerator (``y = 0``) samples; 0 if the batch has none."""
    mask = (1.0 - y).reshape(-1, 1)
    n_num = mask.sum().clamp_min(1.0)
    return (mask * (t_hat - t_xz) ** 2).sum() / (n_num * t_hat.shape[1])


def score_mse_numerator_gradient(t_hat: torch.Tensor, t_xz: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The derivative of :func:`score_mse_numerator` with respect to ``t_hat``."""
    return score_mse_numerator_fused(t_hat, t_xz, y)[1]


def score_mse_numerator_fused(
    t_hat: torch.Tensor, t_xz: torch.Tensor, y: torch.Tensor, weight: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`score_mse_numerator` and ``weight`` times its derivative with respect to ``t_hat``, from one
    set of operations."""
    mask = (1.0 - y).reshape(-1, 1)
    norm = mask.sum().clamp_min_(1.0)
    if t_hat.shape[1] != 1:
        norm.mul_(t_hat.shape[1])
    difference = t_hat - t_xz
    masked = difference * mask
    value = (masked * difference).sum().div_(norm)
    return value, masked.mul_(2.0 * weight).div_(norm)


def _xe(log_r_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``s_hat = sigmoid(-log r_hat)`` against ``target``, on logits."""
    return F.binary_cross_entropy_with_logits(-log_r_hat, target)


def _xe_fused(log_r_hat: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_xe` and its derivative with respect to ``log_r_hat``, ``(target - s_hat) / n``.

    With ``l = log r_hat``: ``BCE(sigmoid(-l), target) = mean(l target - log sigmoid(l))``.
    """
    log_sigmoid = F.logsigmoid(log_r_hat)
    value = torch.mul(log_r_hat, target).sub_(log_sigmoid).mean()
    return value, log_sigmoid.exp_().add_(target).sub_(1.0).div_(log_r_hat.numel())


def _rolr(log_r_hat: torch.Tensor, r_xz: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MadMiner's ROLR loss: ``MSE((1-y)/r_hat, (1-y)/r) + MSE(y r_hat, y r)`` with clamping."""
    log_r_hat = log_r_hat.clamp(-LOG_R_CLAMP, LOG_R_CLAMP)
    r_xz = r_xz.clamp(math.exp(-LOG_R_CLAMP), math.exp(LOG_R_CLAMP))
    num = F.mse_loss((1.0 - y) * torch.exp(-log_r_hat), (1.0 - y) / r_xz)
    den = F.mse_loss(y * torch.exp(log_r_hat), y * r_xz)
    return num + den


def _rolr_fused(
    log_r_hat: torch.Tensor, r_xz: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_rolr` and its derivative with respect to ``log_r_hat`` (zero where the clamp is active)."""
    inside = log_r_hat.abs() <= LOG_R_CLAMP
    log_r_hat = log_r_hat.clamp(-LOG_R_CLAMP, LOG_R_CLAMP)
    r_xz = r_xz.clamp(math.exp(-LOG_R_CLAMP), math.exp(LOG_R_CLAMP))
    ratio, numerator = torch.exp(log_r_hat), 1.0 - y
    inverse = torch.reciprocal(ratio)
    num = (inverse - torch.reciprocal(r_xz)).mul_(numerator)  # (1-y)/r_hat - (1-y)/r
    den = (ratio - r_xz).mul_(y)  # y r_hat - y r
    n = log_r_hat.numel()
    value = (num * num).sum().add_((den * den).sum()).div_(n)
    gradient = den.mul_(y).mul_(ratio).sub_(num.mul_(numerator).mul_(inverse))
    return value, gradient.mul_(inside).mul_(2.0 / n)


class Loss:
    """Base class: a weighted sum of named components.

    Parameters
    ----------
    alpha : float, optional
        Weight of the score term for methods that have one. Default 1.
    """

    method: str = ""
    requires: tuple[str, ...] = ("y",)
    needs_score: bool = False

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    @property
    def weights(self) -> dict[str, float]:
        """Weights of the components in the total loss."""
        return {"xe": 1.0}

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        """Return the loss components (unweighted scalars)."""
        raise NotImplementedError

    def total(self, components: Tensors) -> torch.Tensor:
        """The weighted sum of the components."""
        weights = self.weights
        return sum(weights[k] * v for k, v in components.items())  # type: ignore[return-value]

    def gradients(self, outputs: Tensors, batch: Tensors) -> Tensors:
        """Derivatives of the total loss with respect to each of ``outputs``."""
        return self.value_and_gradients(outputs, batch)[1]

    def value_and_gradients(self, outputs: Tensors, batch: Tensors) -> tuple[torch.Tensor, Tensors]:
        """The total loss and its derivatives with respect to each of ``outputs``: by autograd here; the
        loss classes of the methods give both in closed form, from shared intermediate results."""
        leaves = {key: value.detach().requires_grad_() for key, value in outputs.items()}
        with torch.enable_grad():
            total = self.total(self(leaves, batch))
        grads = torch.autograd.grad(total, list(leaves.values()), allow_unused=True)
        return total.detach(), {
            key: torch.zeros_like(leaf) if grad is None else grad
            for (key, leaf), grad in zip(leaves.items(), grads, strict=True)
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha})"


class CarlLoss(Loss):
    """CARL: cross-entropy of the classifier ``s_hat = 1/(1 + r_hat)`` against the labels ``y``."""

    method = "carl"
    requires = ("y",)

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        return {"xe": _xe(outputs["log_r_hat"], batch["y"])}

    def value_and_gradients(self, outputs: Tensors, batch: Tensors) -> tuple[torch.Tensor, Tensors]:
        value, gradient = _xe_fused(outputs["log_r_hat"], batch["y"])
        return value, {"log_r_hat": gradient}


class RolrLoss(Loss):
    """ROLR: squared error of ``r_hat`` (y = 1) and ``1/r_hat`` (y = 0) against the joint ratio."""

    method = "rolr"
    requires = ("y", "r_xz")

    @property
    def weights(self) -> dict[str, float]:
        return {"mse_r": 1.0}

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        return {"mse_r": _rolr(outputs["log_r_hat"], batch["r_xz"], batch["y"])}

    def value_and_gradients(self, outputs: Tensors, batch: Tensors) -> tuple[torch.Tensor, Tensors]:
        value, gradient = _rolr_fused(outputs["log_r_hat"], batch["r_xz"], batch["y"])
        return value, {"log_r_hat": gradient}


class AliceLoss(Loss):
    """ALICE: cross-entropy of ``s_hat`` against the joint ``s(x,z) = 1/(1 + r(x,z))``."""

    method = "alice"
    requires = ("y", "r_xz")

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        return {"xe": _xe(outputs["log_r_hat"], 1.0 / (1.0 + batch["r_xz"]))}

    def value_and_gradients(self, outputs: Tensors, batch: Tensors) -> tuple[torch.Tensor, Tensors]:
        value, gradient = _xe_fused(outputs["log_r_hat"], torch.reciprocal(1.0 + batch["r_xz"]))
        return value, {"log_r_hat": gradient}


class _WithScore(Loss):
    """Adds ``alpha`` times the numerator score error to a base loss."""

    needs_score = True
    base: type[Loss] = Loss

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha)
        self._base = self.base(alpha)

    @property
    def weights(self) -> dict[str, float]:
        return {**self.base(self.alpha).weights, "mse_score": self.alpha}

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        components = self.base(self.alpha)(outputs, batch)
        components["mse_score"] = score_mse_numerator(outputs["t_hat"], batch["t_xz"], batch["y"])
        return components

    def value_and_gradients(self, outputs: Tensors, batch: Tensors) -> tuple[torch.Tensor, Tensors]:
        value, grads = self._base.value_and_gradients(outputs, batch)
        score_value, grads["t_hat"] = score_mse_numerator_fused(
            outputs["t_hat"], batch["t_xz"], batch["y"], self.alpha
        )
        return value.add_(score_value, alpha=self.alpha), grads


class CascalLoss(_WithScore):
    """CASCAL: CARL plus ``alpha`` times the score error on numerator samples."""

    method = "cascal"
    requires = ("y", "t_xz")
    base = CarlLoss


class RascalLoss(_WithScore):
    """RASCAL: ROLR plus ``alpha`` times the score error on numerator samples."""

    method = "rascal"
    requires = ("y", "r_xz", "t_xz")
    base = RolrLoss


class AlicesLoss(_WithScore):
    """ALICES: ALICE plus ``alpha`` times the score error on numerator samples."""

    method = "alices"
    requires = ("y", "r_xz", "t_xz")
    base = AliceLoss


LOSSES: dict[str, type[Loss]] = {
    cls.method: cls for cls in (CarlLoss, RolrLoss, AliceLoss, CascalLoss, RascalLoss, AlicesLoss)
}
"""Loss class per method name."""


def get_loss(method: str, alpha: float = 1.0) -> Loss:
    """Instantiate the loss of ``method`` (``carl``, ``rolr``, ``alice``, ``cascal``, ``rascal``, ``alices``).

    Raises
    ------
    InputError
        If the method is unknown.
    """
    try:
        cls = LOSSES[method]
    except KeyError:
        raise InputError(f"Unknown method {method!r}; expected one of {', '.join(LOSSES)}") from None
    return cls(alpha)


# ---------------------------------------------------------------------- doubly parameterized ("2") variants
#
# For the doubly parameterized estimator the network outputs the scores at both hypotheses,
# ``"t_hat0" = d log r_hat / d theta0`` and ``"t_hat1" = d log r_hat / d theta1``. The score term is the
# squared error of ``t_hat0`` against ``t_xz0`` averaged over the y = 0 (numerator) samples plus that of
# ``-t_hat1`` against ``t_xz1`` averaged over the y = 1 (denominator) samples: ``t_xz1`` is the joint score
# at theta1, ``d log p(x,z|theta1) / d theta1``, which is *minus* the derivative of
# ``log r(x,z|theta0,theta1)`` with respect to theta1. (MadMiner compares ``t_hat1`` with ``+t_xz1``, which
# contradicts the ratio term; with alpha = 1 the network then collapses to a flat ratio on the toy model.
# MadMiner also averages each masked error over all samples; the same factor-2 remark as above applies.)


class Carl2Loss(CarlLoss):
    """CARL for the doubly parameterized estimator (identical to :class:`CarlLoss`)."""

    method = "carl2"


class Rolr2Loss(RolrLoss):
    """ROLR for the doubly parameterized estimator (identical to :class:`RolrLoss`)."""

    method = "rolr2"


class Alice2Loss(AliceLoss):
    """ALICE for the doubly parameterized estimator (identical to :class:`AliceLoss`)."""

    method = "alice2"


class _WithScore2(Loss):
    """Adds ``alpha`` times the score errors at theta0 (y = 0 samples) and theta1 (y = 1 samples)."""

    needs_score = True
    base: type[Loss] = Loss

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha)
        self._base = self.base(alpha)

    @property
    def weights(self) -> dict[str, float]:
        return {**self.base(self.alpha).weights, "mse_score0": self.alpha, "mse_score1": self.alpha}

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        components = self.base(self.alpha)(outputs, batch)
        y = batch["y"]
        components["mse_score0"] = score_mse_numerator(outputs["t_hat0"], batch["t_xz0"], y)
        # t_xz1 is the joint score at theta1, d log p(x,z|theta1) / d theta1 = -d log r(x,z) / d theta1
        components["mse_score1"] = score_mse_numerator(-outputs["t_hat1"], batch["t_xz1"], 1.0 - y)
        return components

    def value_and_gradients(self, outputs: Tensors, batch: Tensors) -> tuple[torch.Tensor, Tensors]:
        value, grads = self._base.value_and_gradients(outputs, batch)
        y = batch["y"]
        score0, grads["t_hat0"] = score_mse_numerator_fused(outputs["t_hat0"], batch["t_xz0"], y, self.alpha)
        score1, grads["t_hat1"] = score_mse_numerator_fused(
            -outputs["t_hat1"], batch["t_xz1"], 1.0 - y, -self.alpha
        )
        return value.add_(score0.add_(score1), alpha=self.alpha), grads


class Cascal2Loss(_WithScore2):
    """CASCAL2: CARL plus ``alpha`` times the score errors at both hypotheses."""

    method = "cascal2"
    requires = ("y", "t_xz0", "t_xz1")
    base = CarlLoss


class Rascal2Loss(_WithScore2):
    """RASCAL2: ROLR plus ``alpha`` times the score errors at both hypotheses."""

    method = "rascal2"
    requires = ("y", "r_xz", "t_xz0", "t_xz1")
    base = RolrLoss


class Alices2Loss(_WithScore2):
    """ALICES2: ALICE plus ``alpha`` times the score errors at both hypotheses."""

    method = "alices2"
    requires = ("y", "r_xz", "t_xz0", "t_xz1")
    base = AliceLoss


DOUBLE_LOSSES: dict[str, type[Loss]] = {
    cls.method[:-1]: cls for cls in (Carl2Loss, Rolr2Loss, Alice2Loss, Cascal2Loss, Rascal2Loss, Alices2Loss)
}
"""Loss class of the doubly parameterized estimator per method name (``carl``, ..., ``alices``)."""


def get_double_loss(method: str, alpha: float = 1.0) -> Loss:
    """Instantiate the "2" loss of ``method`` (``carl``, ..., ``alices``; ``carl2``, ... are accepted too).

    Raises
    ------
    InputError
        If the method is unknown.
    """
    key = method[:-1] if method.endswith("2") else method
    try:
        cls = DOUBLE_LOSSES[key]
    except KeyError:
        raise InputError(f"Unknown method {method!r}; expected one of {', '.join(DOUBLE_LOSSES)}") from None
    return cls(alpha)


# ---------------------------------------------------------------------- score and density estimators


class SallyLoss(Loss):
    """SALLY / SALLINO: mean squared error of ``t_hat(x)`` against the joint score ``t_xz``."""

    method = "sally"
    requires = ("t_xz",)
    needs_score = False

    @property
    def weights(self) -> dict[str, float]:
        return {"mse_score": 1.0}

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        return {"mse_score": F.mse_loss(outputs["t_hat"], batch["t_xz"])}

    def value_and_gradients(self, outputs: Tensors, batch: Tensors) -> tuple[torch.Tensor, Tensors]:
        t_hat = outputs["t_hat"]
        difference = (t_hat - batch["t_xz"]).reshape(-1)
        value = torch.dot(difference, difference).div_(t_hat.numel())
        return value, {"t_hat": difference.mul_(2.0 / t_hat.numel()).view_as(t_hat)}


class NdeLoss(Loss):
    """NDE: negative mean log density ``-mean log p_hat(x|theta)`` (of the scaled observables)."""

    method = "nde"
    requires: tuple[str, ...] = ()
    needs_score = False

    @property
    def weights(self) -> dict[str, float]:
        return {"nll": 1.0}

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        return {"nll": -outputs["log_p_hat"].mean()}


class ScandalLoss(NdeLoss):
    """SCANDAL: NDE plus ``alpha`` times the mean squared error of ``t_hat`` against the joint score."""

    method = "scandal"
    requires = ("t_xz",)
    needs_score = True

    @property
    def weights(self) -> dict[str, float]:
        return {"nll": 1.0, "mse_score": self.alpha}

    def __call__(self, outputs: Tensors, batch: Tensors) -> Tensors:
        components = super().__call__(outputs, batch)
        components["mse_score"] = F.mse_loss(outputs["t_hat"], batch["t_xz"])
        return components


LIKELIHOOD_METHODS: dict[str, type[Loss]] = {"nde": NdeLoss, "scandal": ScandalLoss}
"""Loss class per method name of :class:`LikelihoodEstimator`."""

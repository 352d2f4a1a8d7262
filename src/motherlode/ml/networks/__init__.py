"""The networks of the neural estimators, all in one place: plain :class:`torch.nn.Module` s.

* :mod:`~motherlode.ml.networks.dense`: :class:`DenseNetwork` (with its hand-written forward-mode score and
  backward pass for training), the ratio models :class:`ParameterizedRatioModel` and
  :class:`DoubleParameterizedRatioModel`, and :class:`StackedDenseNetwork` (ensemble members as one network);
* :mod:`~motherlode.ml.networks.morphing`: :class:`MorphingAwareRatioModel` and
  :class:`QuadraticMorphingAwareRatioModel`;
* :mod:`~motherlode.ml.networks.flows`: the conditional masked autoregressive flow :class:`ConditionalMAF`.

The estimators (:mod:`motherlode.ml`) own the scaling, training and files; the losses live in
:mod:`motherlode.ml.losses`.
"""

from motherlode.ml.networks.dense import (
    ACTIVATIONS,
    DenseNetwork,
    DensePass,
    DoubleParameterizedRatioModel,
    ParameterizedRatioModel,
    StackedDenseNetwork,
    differentiable,
    make_activation,
    parameter_gradients,
)
from motherlode.ml.networks.flows import BatchNormTransform, ConditionalMAF
from motherlode.ml.networks.morphing import (
    CLAMP_LOG_RATIO,
    MorphingAwareRatioModel,
    QuadraticMorphingAwareRatioModel,
    torch_morphing_weights,
)

__all__ = [
    "ACTIVATIONS",
    "CLAMP_LOG_RATIO",
    "BatchNormTransform",
    "ConditionalMAF",
    "DenseNetwork",
    "DensePass",
    "DoubleParameterizedRatioModel",
    "MorphingAwareRatioModel",
    "ParameterizedRatioModel",
    "QuadraticMorphingAwareRatioModel",
    "StackedDenseNetwork",
    "differentiable",
    "make_activation",
    "parameter_gradients",
    "torch_morphing_weights",
]

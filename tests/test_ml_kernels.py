"""The compiled CPU training step (``motherlode.ml.kernels``) against the torch step.

In float64 the compiled step's loss and gradient equal those of the hand-written torch step (itself tested
against autograd in test_ml_manual.py) to rounding, with tolerances that a wrong sign, factor or missing
term would exceed by orders of magnitude; its float32 tanh and sigmoid are correctly rounded.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import interrupt_after
from motherlode.ml import ParameterizedRatioEstimator, ScoreEstimator, kernels, stacked
from motherlode.ml.double_parameterized_ratio import DoubleParameterizedRatioModel
from motherlode.ml.ensemble import Ensemble
from motherlode.ml.kernels import MIN_STEPS, CompiledStep, compiled_step
from motherlode.ml.losses import LOSSES, CascalLoss, Loss, SallyLoss, get_loss
from motherlode.ml.networks import DenseNetwork, ParameterizedRatioModel
from motherlode.ml.optim import FlatOptimizer
from motherlode.ml.parameterized_ratio import _ratio_forward, _ratio_manual
from motherlode.ml.score import _score_forward, _score_manual
from motherlode.ml.trainer import Trainer
from test_ml_manual import _toy

COMPILED_ACTIVATIONS = ("tanh", "sigmoid", "relu", "lrelu")


@pytest.fixture(autouse=True)
def _compiled_always(monkeypatch):
    monkeypatch.setenv("MOTHERLODE_COMPILED_STEP", "1")


def _batch(
    n: int, n_observables: int, n_parameters: int, labels: str = "mixed", seed: int = 0, dtype=torch.float64
):
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    y = {
        "mixed": torch.randint(0, 2, (n, 1), generator=generator).to(dtype),
        "zeros": torch.zeros(n, 1, dtype=dtype),
        "ones": torch.ones(n, 1, dtype=dtype),
    }[labels]
    return {
        "x": normal(n, n_observables),
        "theta": normal(n, n_parameters),
        "y": y,
        "r_xz": torch.exp(3.0 * normal(n, 1)),
        "t_xz": normal(n, n_parameters),
    }


def _torch_step_gradient(model: torch.nn.Module, loss: Loss, batch: dict, opt: FlatOptimizer) -> float:
    """The torch step's loss, its gradient written into ``opt.gradient`` (as ``Trainer._manual_step``)."""
    manual = _score_manual if isinstance(loss, SallyLoss) else _ratio_manual
    with torch.inference_mode():
        outputs, backward = manual(model, batch, loss.needs_score)
        value, grads = loss.value_and_gradients(outputs, batch)
        backward(grads, opt.gradient_views)
    return float(value)


def _both(model: torch.nn.Module, loss: Loss, batch: dict) -> tuple[float, torch.Tensor, float, torch.Tensor]:
    """Loss and flat gradient of the torch step, then of the compiled step."""
    opt = FlatOptimizer(list(model.parameters()), "amsgrad", 0.001)
    value = _torch_step_gradient(model, loss, batch, opt)
    reference = opt.gradient.clone()
    opt.gradient.fill_(float("nan"))  # every entry must be written
    step = compiled_step(model, loss, opt)
    assert isinstance(step, CompiledStep)
    compiled_value = step.gradient(batch)
    return value, reference, compiled_value, opt.gradient.clone()


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / (1.0 + b.abs().max()))


@pytest.mark.parametrize("activation", COMPILED_ACTIVATIONS)
@pytest.mark.parametrize(("hidden", "n_parameters"), [((7, 5), 2), ((6,), 1), ((4, 4, 4), 3)])
@pytest.mark.parametrize("method", list(LOSSES))
def test_ratio_step_equals_torch_step(method, activation, hidden, n_parameters):
    torch.manual_seed(3)
    model = ParameterizedRatioModel(4, n_parameters, hidden, activation).double()
    loss = get_loss(method, alpha=0.7)
    batch = _batch(33, 4, n_parameters)
    if "r_xz" not in loss.requires:
        del batch["r_xz"]  # a batch holds only what the method needs
    if "t_xz" not in loss.requires:
        del batch["t_xz"]
    value, reference, compiled_value, gradient = _both(model, loss, batch)
    assert value > 0.0
    assert compiled_value == pytest.approx(value, rel=1e-12)
    assert not torch.isnan(gradient).any()
    assert float(reference.abs().max()) > 1e-3
    assert _relative_error(gradient, reference) < 1e-12


@pytest.mark.parametrize("labels", ["zeros", "ones"])
@pytest.mark.parametrize("method", ["cascal", "rascal", "alices"])
def test_score_term_with_one_class_only(method, labels):
    torch.manual_seed(4)
    model = ParameterizedRatioModel(2, 2, (6, 6)).double()
    value, reference, compiled_value, gradient = _both(model, get_loss(method, 2.0), _batch(20, 2, 2, labels))
    assert compiled_value == pytest.approx(value, rel=1e-12)
    assert _relative_error(gradient, reference) < 1e-12


@pytest.mark.parametrize("method", ["rolr", "rascal"])
def test_rolr_clamp_beyond_ten(method):
    """Outputs beyond ROLR's clamp at |log r| = 10 contribute no gradient, in both steps."""
    torch.manual_seed(5)
    model = ParameterizedRatioModel(2, 1, (6,)).double()
    with torch.no_grad():
        model.layers[-1].weight.mul_(60.0)
    batch = _batch(40, 2, 1, seed=1)
    outputs, _ = _ratio_manual(model, batch, False)
    clamped = outputs["log_r_hat"].abs() > 10.0
    assert 5 <= int(clamped.sum()) <= 35
    value, reference, compiled_value, gradient = _both(model, get_loss(method), batch)
    assert compiled_value == pytest.approx(value, rel=1e-12)
    assert _relative_error(gradient, reference) < 1e-12


@pytest.mark.parametrize("activation", COMPILED_ACTIVATIONS)
@pytest.mark.parametrize(("hidden", "n_parameters"), [((7, 5), 3), ((6,), 1)])
def test_sally_step_equals_torch_step(activation, hidden, n_parameters):
    torch.manual_seed(6)
    model = DenseNetwork(5, hidden, n_parameters, activation).double()
    batch = _batch(29, 5, n_parameters)
    batch = {"x": batch["x"], "t_xz": batch["t_xz"]}
    value, reference, compiled_value, gradient = _both(model, SallyLoss(), batch)
    assert compiled_value == pytest.approx(value, rel=1e-12)
    assert _relative_error(gradient, reference) < 1e-12


@pytest.mark.parametrize("method", [*LOSSES, "sally"])
def test_validation_loss_equals_the_trainers(method):
    """Blocks of 7 of 30 samples (the last one short), the components' names and values included."""
    torch.manual_seed(9)
    if method == "sally":
        model, loss, forward, manual = (
            DenseNetwork(3, (6, 5), 2).double(),
            SallyLoss(),
            _score_forward,
            _score_manual,
        )
    else:
        model, loss = ParameterizedRatioModel(3, 2, (6, 5)).double(), get_loss(method, alpha=0.7)
        forward, manual = _ratio_forward, _ratio_manual
    data = {
        key: value
        for key, value in _batch(30, 3, 2, seed=3).items()
        if key in ("x", "y", "theta", *loss.requires)
    }
    reference, reference_parts = Trainer(
        model, loss, forward, "cpu", torch.float64, manual=manual
    ).evaluate_loss(data, 7)
    step = compiled_step(model, loss, _flat(model))
    assert step is not None
    value, parts = step.evaluate(data, 7)
    assert value == pytest.approx(reference, rel=1e-12)
    assert parts.keys() == reference_parts.keys() == loss.weights.keys()
    for name, part in parts.items():
        assert part == pytest.approx(reference_parts[name], rel=1e-12)


def test_float32_step_is_the_float64_step_to_float32_rounding():
    torch.manual_seed(7)
    model64 = ParameterizedRatioModel(3, 2, (50, 50)).double()
    model32 = ParameterizedRatioModel(3, 2, (50, 50))
    model32.load_state_dict({k: v.float() for k, v in model64.state_dict().items()})
    batch64 = _batch(128, 3, 2, seed=2)
    batch32 = {key: value.float() for key, value in batch64.items()}
    _, reference, value64, _ = _both(model64, CascalLoss(1.0), batch64)
    _, _, value32, gradient32 = _both(model32, CascalLoss(1.0), batch32)
    assert gradient32.dtype == torch.float32
    assert value32 == pytest.approx(value64, rel=1e-5)
    assert _relative_error(gradient32.double(), reference) < 1e-5


def test_update_moves_the_weights_as_the_optimiser_does():
    """Calling the step runs the optimiser on the gradient it wrote (and clips it when asked)."""
    torch.manual_seed(8)
    model = ParameterizedRatioModel(2, 1, (5,)).double()
    twin = ParameterizedRatioModel(2, 1, (5,)).double()
    twin.load_state_dict(model.state_dict())
    batch = _batch(16, 2, 1)
    loss = get_loss("alices")
    opt, twin_opt = (FlatOptimizer(list(m.parameters()), "amsgrad", 0.01) for m in (model, twin))
    step = compiled_step(model, loss, opt)
    assert step is not None
    for _ in range(3):
        value = step(batch, clip_gradient=0.05)
        _torch_step_gradient(twin, loss, batch, twin_opt)
        twin_opt.step_written(0.05)
        assert value.dtype == torch.float64 and value.ndim == 0
    assert _relative_error(opt.flat, twin_opt.flat) < 1e-12
    assert (
        float(
            (opt.flat - FlatOptimizer(list(ParameterizedRatioModel(2, 1, (5,)).parameters())).flat.double())
            .abs()
            .max()
        )
        > 0
    )


@pytest.mark.parametrize(
    ("rule", "momentum"), [("amsgrad", None), ("adam", None), ("sgd", 0.9), ("sgd", None)]
)
@pytest.mark.parametrize("clip", [None, 0.05])
@pytest.mark.parametrize("method", ["alices", "sally"])
def test_compiled_epoch_equals_the_optimisers_steps(rule, momentum, clip, method):
    """An epoch as one compiled call (updates included) equals the compiled gradient of each batch followed
    by :class:`FlatOptimizer`'s update: weights, optimiser state and the mean loss (float64)."""
    torch.manual_seed(10)
    if method == "sally":
        models = [DenseNetwork(3, (6, 5), 2).double() for _ in range(2)]
        loss: Loss = SallyLoss()
    else:
        models = [ParameterizedRatioModel(3, 2, (6, 5)).double() for _ in range(2)]
        loss = get_loss(method, alpha=0.7)
    models[1].load_state_dict(models[0].state_dict())
    opts = [FlatOptimizer(list(m.parameters()), rule, 0.01, momentum) for m in models]
    steps = [compiled_step(m, loss, opt) for m, opt in zip(models, opts, strict=True)]
    data = _batch(70, 3, 2, seed=4)  # batches of 16: four full ones and one of 6
    order = torch.randperm(70, generator=torch.Generator().manual_seed(1))
    start_weights = opts[0].flat.clone()
    for _ in range(2):
        mean = steps[0].train_epoch(data, order, 16, clip)
        shuffled = {key: value[order] for key, value in data.items()}
        total = sum(
            float(steps[1]({k: v[start : start + 16] for k, v in shuffled.items()}, clip))
            * len(order[start : start + 16])
            for start in range(0, 70, 16)
        )
        assert mean == pytest.approx(total / 70, rel=1e-12)
    assert opts[0].steps == opts[1].steps == 10
    assert _relative_error(opts[0].flat, opts[1].flat) < 1e-12
    for name in ("first_moment", "second_moment", "max_second_moment"):
        ours, theirs = getattr(opts[0], name), getattr(opts[1], name)
        assert (ours is None) == (theirs is None)
        if ours is not None:
            assert _relative_error(ours, theirs) < 1e-12
    assert float((opts[0].flat - start_weights).abs().max()) > 1e-3  # the weights did move


def test_tanh_and_sigmoid_are_correctly_rounded_in_float32():
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-7, 1e-4, -1e-4, 0.5, 9.0, -9.0, 20.0, -20.0, 89.0, -89.0, 200.0]
    z = np.concatenate(
        [special, rng.normal(0, 0.05, 30_000), rng.normal(0, 3, 30_000), rng.uniform(-120, 120, 30_000)]
    ).astype(np.float32)[:, None]
    exact = {
        kernels._TANH: np.tanh(z.astype(np.float64)),
        kernels._SIGMOID: 1.0 / (1.0 + np.exp(-z.astype(np.float64))),
    }
    for activation, reference in exact.items():
        values, slopes, curvatures = (np.empty_like(z) for _ in range(3))
        kernels._activate(z, np.zeros(1, np.float32), values, slopes, curvatures, activation, 0.0)
        np.testing.assert_array_equal(values, reference.astype(np.float32))
    special_values = np.array([[np.nan], [np.inf], [-np.inf]], dtype=np.float64)
    values, slopes, curvatures = (np.empty_like(special_values) for _ in range(3))
    kernels._activate(special_values, np.zeros(1), values, slopes, curvatures, kernels._TANH, 0.0)
    assert np.isnan(values[0, 0]) and values[1, 0] == 1.0 and values[2, 0] == -1.0
    kernels._activate(special_values, np.zeros(1), values, slopes, curvatures, kernels._SIGMOID, 0.0)
    assert np.isnan(values[0, 0]) and values[1, 0] == 1.0 and values[2, 0] == 0.0


def test_float64_activations_to_float64_rounding():
    z = np.linspace(-40.0, 40.0, 200_001)[:, None]
    for activation, reference in (
        (kernels._TANH, np.tanh(z)),
        (kernels._SIGMOID, 1.0 / (1.0 + np.exp(-z))),
    ):
        values, slopes, curvatures = (np.empty_like(z) for _ in range(3))
        kernels._activate(z, np.zeros(1), values, slopes, curvatures, activation, 0.0)
        assert np.max(np.abs(values - reference) / np.maximum(np.abs(reference), 1e-300)) < 2e-15


# ---------------------------------------------------------------------------- where it applies


def _flat(model: torch.nn.Module) -> FlatOptimizer:
    return FlatOptimizer(list(model.parameters()), "adam", 0.001)


def test_applies_only_where_it_can(monkeypatch):
    ratio = ParameterizedRatioModel(2, 1, (4,))
    assert compiled_step(ratio, CascalLoss(), _flat(ratio)) is not None
    score = DenseNetwork(2, (4,), 1)
    assert compiled_step(score, SallyLoss(), _flat(score)) is not None
    not_applicable = [
        (ParameterizedRatioModel(2, 1, (4,), dropout_prob=0.1), CascalLoss()),
        (ParameterizedRatioModel(2, 1, (4,), "elu"), CascalLoss()),
        (ParameterizedRatioModel(2, 1, (4,), "prelu"), CascalLoss()),
        (ParameterizedRatioModel(2, 1, ()), CascalLoss()),  # no hidden layer
        (DoubleParameterizedRatioModel(2, 1, (4,)), CascalLoss()),
        (DenseNetwork(2, (4,), 1), CascalLoss()),
        (ParameterizedRatioModel(2, 1, (4,)), SallyLoss()),
    ]
    for model, loss in not_applicable:
        assert compiled_step(model, loss, _flat(model)) is None, (type(model).__name__, loss)
    assert compiled_step(ratio, CascalLoss(), torch.optim.SGD(ratio.parameters(), lr=0.1)) is None
    other = ParameterizedRatioModel(2, 1, (4,))
    reversed_params = FlatOptimizer(list(other.parameters())[::-1], "adam", 0.001)
    assert compiled_step(other, CascalLoss(), reversed_params) is None
    half = ParameterizedRatioModel(2, 1, (4,)).half()
    assert compiled_step(half, CascalLoss(), _flat(half)) is None


def test_the_environment_and_the_training_length_decide(monkeypatch):
    model = ParameterizedRatioModel(2, 1, (4,))
    opt = _flat(model)
    assert compiled_step(model, CascalLoss(), opt, n_steps=1) is not None  # "1": always
    monkeypatch.setenv("MOTHERLODE_COMPILED_STEP", "0")
    assert compiled_step(model, CascalLoss(), opt, n_steps=10 * MIN_STEPS) is None
    monkeypatch.delenv("MOTHERLODE_COMPILED_STEP")  # auto: by the training's length alone
    assert compiled_step(model, CascalLoss(), opt, n_steps=MIN_STEPS - 1) is None
    assert compiled_step(model, CascalLoss(), opt, n_steps=MIN_STEPS) is not None
    monkeypatch.setenv("MOTHERLODE_COMPILED_STEP", "auto")
    assert compiled_step(model, CascalLoss(), opt, n_steps=MIN_STEPS) is not None


def _count_calls(monkeypatch) -> list[int]:
    """Count the epochs trained by the compiled step."""
    return interrupt_after(monkeypatch, CompiledStep, "train_epoch")


@pytest.mark.parametrize("method", [*LOSSES, "sally"])
def test_training_with_the_compiled_step_equals_the_torch_step(monkeypatch, method):
    data = _toy()
    calls = _count_calls(monkeypatch)
    results = []
    for flag in ("1", "0"):
        monkeypatch.setenv("MOTHERLODE_COMPILED_STEP", flag)
        torch.manual_seed(11)
        if method == "sally":
            estimator = ScoreEstimator(n_hidden=(16, 16))
            losses = estimator.train("sally", x=data["x"], t_xz=data["t_xz"], n_epochs=3, verbose="none")
            outputs = estimator.evaluate_score(data["x"][:50])
        else:
            estimator = ParameterizedRatioEstimator(n_hidden=(16, 16))
            losses = estimator.train(method, **data, n_epochs=3, verbose="none")
            outputs = estimator.evaluate_log_likelihood_ratio(data["x"][:50], data["theta"][:50], False)[0]
        results.append((losses, outputs))
        if flag == "1":
            assert calls[0] == 3  # three epochs
    (losses_c, out_c), (losses_t, out_t) = results
    np.testing.assert_allclose(losses_c[0], losses_t[0], rtol=2e-4)
    np.testing.assert_allclose(losses_c[1], losses_t[1], rtol=2e-4)
    np.testing.assert_allclose(out_c, out_t, atol=2e-4)
    assert calls[0] == 3  # not at all with MOTHERLODE_COMPILED_STEP=0


def test_short_trainings_take_the_torch_step_by_default(monkeypatch):
    monkeypatch.delenv("MOTHERLODE_COMPILED_STEP")
    calls = _count_calls(monkeypatch)
    ParameterizedRatioEstimator(n_hidden=(8,)).train("alices", **_toy(600), n_epochs=2, verbose="none")
    assert calls[0] == 0
    monkeypatch.setattr(kernels, "MIN_STEPS", 8)  # 4 batches x 2 epochs
    ParameterizedRatioEstimator(n_hidden=(8,)).train("alices", **_toy(600), n_epochs=2, verbose="none")
    assert calls[0] == 2


@pytest.mark.parametrize(
    ("flag", "vectorize", "stacked_expected"), [("1", "auto", False), ("0", "auto", True), ("1", True, True)]
)
def test_ensembles_stack_only_members_without_the_compiled_step(
    monkeypatch, flag, vectorize, stacked_expected
):
    """``vectorize="auto"`` trains members that take the compiled step one after the other (faster than the
    stacked network, which trains by autograd); True stacks them all the same."""
    monkeypatch.setenv("MOTHERLODE_COMPILED_STEP", flag)
    stacked_calls = interrupt_after(monkeypatch, stacked, "train_stacked")
    compiled_calls = _count_calls(monkeypatch)
    ensemble = Ensemble([ParameterizedRatioEstimator(n_hidden=(8,)) for _ in range(2)])
    ensemble.train_all(vectorize=vectorize, method="alices", **_toy(400), n_epochs=2, verbose="none")
    assert stacked_calls[0] == int(stacked_expected)
    assert compiled_calls[0] == (0 if stacked_expected else 2 * 2)  # 2 members x 2 epochs

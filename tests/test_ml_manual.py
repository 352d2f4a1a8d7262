"""The hand-written training path: manual backward passes, closed-form loss gradients, the flat optimiser.

Each piece is checked against autograd or ``torch.optim`` in float64, where the only differences are
rounding, with tolerances that a wrong sign, factor or missing term would exceed by orders of magnitude.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

from motherlode.ml import DoubleParameterizedRatioEstimator, ParameterizedRatioEstimator, ScoreEstimator
from motherlode.ml.double_parameterized_ratio import DoubleParameterizedRatioModel
from motherlode.ml.losses import DOUBLE_LOSSES, LOSSES, Loss, SallyLoss
from motherlode.ml.networks import DenseNetwork, ParameterizedRatioModel
from motherlode.ml.optim import FlatOptimizer

MANUAL_ACTIVATIONS = ("tanh", "sigmoid", "relu", "lrelu", "elu", "selu", "softplus", "log_sigmoid")


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / (1.0 + b.abs().max()))


def _autograd_reference(net: DenseNetwork, x: torch.Tensor, n_tangent: int, grad_out, grad_tangent):
    """Outputs, tangent and the parameter gradients of ``<grad_out, out> + <grad_tangent, tangent>``."""
    x = x.clone().requires_grad_(True)
    out = net(x)
    total = (out * grad_out).sum()
    tangent = None
    if n_tangent:
        columns = [
            torch.autograd.grad(out[:, o].sum(), x, create_graph=True)[0][:, :n_tangent]
            for o in range(out.shape[1])
        ]
        tangent = torch.stack(columns, dim=-1)
        total = total + (tangent * grad_tangent).sum()
    return out, tangent, torch.autograd.grad(total, list(net.parameters()))


@pytest.mark.parametrize("activation", MANUAL_ACTIVATIONS)
@pytest.mark.parametrize(
    ("hidden", "n_tangent", "n_outputs"), [((7, 5), 2, 1), ((6,), 1, 3), ((), 2, 2), ((4, 4, 4), 0, 2)]
)
def test_dense_manual_pass_equals_autograd(activation, hidden, n_tangent, n_outputs):
    torch.manual_seed(3)
    net = DenseNetwork(5, hidden, n_outputs, activation).double()
    x = torch.randn(9, 5, dtype=torch.float64)
    grad_out = torch.randn(9, n_outputs, dtype=torch.float64)
    grad_tangent = torch.randn(9, n_tangent, n_outputs, dtype=torch.float64)
    assert net.supports_manual_gradients
    out, tangent, run = net.forward_pass(x, n_tangent)
    grads = net.backward_pass(run, grad_out, grad_tangent if n_tangent else None)
    ref_out, ref_tangent, ref_grads = _autograd_reference(net, x, n_tangent, grad_out, grad_tangent)
    assert _relative_error(out, ref_out) < 1e-13
    if n_tangent:
        assert _relative_error(tangent, ref_tangent) < 1e-13
    else:
        assert tangent is None
    assert len(grads) == len(ref_grads)
    for grad, ref in zip(grads, ref_grads, strict=True):
        assert grad.shape == ref.shape
        assert _relative_error(grad, ref) < 1e-12
    # written into a flat buffer's views, as the training step does
    buffer = torch.full((sum(p.numel() for p in net.parameters()),), float("nan"), dtype=torch.float64)
    views = list(torch.split(buffer, [p.numel() for p in net.parameters()]))
    views = [view.view_as(p) for view, p in zip(views, net.parameters(), strict=True)]
    written = net.backward_pass(run, grad_out, grad_tangent if n_tangent else None, out=views)
    assert all(w is v for w, v in zip(written, views, strict=True))
    torch.testing.assert_close(buffer, torch.cat([g.reshape(-1) for g in grads]), rtol=0, atol=0)


def test_networks_without_closed_form_derivatives_use_autograd():
    assert not DenseNetwork(3, (4,), 1, "prelu").supports_manual_gradients
    assert not DenseNetwork(3, (4,), 1, "rrelu").supports_manual_gradients
    assert not DenseNetwork(3, (4,), 1, "tanh", dropout_prob=0.1).supports_manual_gradients
    with pytest.raises(Exception, match="Manual gradients need"):
        DenseNetwork(3, (4,), 1, "prelu").forward_pass(torch.zeros(2, 3))


def test_ratio_model_manual_equals_autograd():
    torch.manual_seed(0)
    model = ParameterizedRatioModel(3, 2, (8, 6)).double()
    theta, x = torch.randn(11, 2, dtype=torch.float64), torch.randn(11, 3, dtype=torch.float64)
    g_log_r, g_t = torch.randn(11, 1, dtype=torch.float64), torch.randn(11, 2, dtype=torch.float64)
    log_r, t_hat, backward = model.forward_manual(theta, x)
    grads = backward(g_log_r, g_t)
    ref_log_r, ref_t = model(theta, x, track_score=True, create_graph=True)
    ref_grads = torch.autograd.grad(
        (ref_log_r * g_log_r).sum() + (ref_t * g_t).sum(), list(model.parameters())
    )
    assert _relative_error(log_r, ref_log_r) < 1e-13
    assert _relative_error(t_hat, ref_t) < 1e-13
    for grad, ref in zip(grads, ref_grads, strict=True):
        assert _relative_error(grad, ref) < 1e-12
    log_r_only, no_score, _ = model.forward_manual(theta, x, track_score=False)
    assert no_score is None and _relative_error(log_r_only, ref_log_r) < 1e-13


def test_double_model_manual_equals_autograd():
    torch.manual_seed(1)
    model = DoubleParameterizedRatioModel(2, 2, (7,)).double()
    theta0, theta1 = torch.randn(10, 2, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    x = torch.randn(10, 2, dtype=torch.float64)
    g = [torch.randn(10, k, dtype=torch.float64) for k in (1, 2, 2)]
    log_r, t0, t1, backward = model.forward_manual(theta0, theta1, x)
    grads = backward(*g)
    ref_log_r, ref_t0, ref_t1 = model(theta0, theta1, x, track_score=True, create_graph=True)
    ref_total = (ref_log_r * g[0]).sum() + (ref_t0 * g[1]).sum() + (ref_t1 * g[2]).sum()
    ref_grads = torch.autograd.grad(ref_total, list(model.parameters()), retain_graph=True)
    for ours, ref in ((log_r, ref_log_r), (t0, ref_t0), (t1, ref_t1), *zip(grads, ref_grads, strict=True)):
        assert _relative_error(ours, ref) < 1e-12
    only_ratio = backward(g[0], None, None)
    ref_only = torch.autograd.grad((ref_log_r * g[0]).sum(), list(model.parameters()))
    for ours, ref in zip(only_ratio, ref_only, strict=True):
        assert _relative_error(ours, ref) < 1e-12


def _loss_inputs(cls: type[Loss], labels: str, n: int = 64, n_parameters: int = 2):
    generator = torch.Generator().manual_seed(5)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    y = {
        "mixed": torch.randint(0, 2, (n, 1), generator=generator).double(),
        "zeros": torch.zeros(n, 1, dtype=torch.float64),
        "ones": torch.ones(n, 1, dtype=torch.float64),
    }[labels]
    batch = {
        "y": y,
        "r_xz": torch.exp(4.0 * normal(n, 1)),
        "t_xz": normal(n, n_parameters),
        "t_xz0": normal(n, n_parameters),
        "t_xz1": normal(n, n_parameters),
    }
    log_r_hat = 6.0 * normal(n, 1)  # a fifth beyond ROLR's clamp at |log r| = 10
    if cls is SallyLoss:
        return {"t_hat": normal(n, n_parameters)}, batch
    outputs = {"log_r_hat": log_r_hat}
    if cls.needs_score and "t_xz0" in cls.requires:
        outputs.update(t_hat0=normal(n, n_parameters), t_hat1=normal(n, n_parameters))
    elif cls.needs_score:
        outputs["t_hat"] = normal(n, n_parameters)
    return outputs, batch


@pytest.mark.parametrize("labels", ["mixed", "zeros", "ones"])
@pytest.mark.parametrize(
    "cls", [*LOSSES.values(), *DOUBLE_LOSSES.values(), SallyLoss], ids=lambda c: c.__name__
)
def test_closed_form_loss_value_and_gradients_equal_autograd(cls, labels):
    loss = cls(0.7)
    outputs, batch = _loss_inputs(cls, labels)
    assert type(loss).value_and_gradients is not Loss.value_and_gradients  # a closed form of its own
    value, grads = loss.value_and_gradients(outputs, batch)
    reference_value, by_autograd = Loss.value_and_gradients(loss, outputs, batch)
    assert float(reference_value) > 0.0
    assert abs(float(value) - float(reference_value)) < 1e-12 * float(reference_value)
    assert float(reference_value) == pytest.approx(float(loss.total(loss(outputs, batch))), rel=1e-14)
    assert grads.keys() == by_autograd.keys() == outputs.keys()
    for key in grads:
        assert _relative_error(grads[key], by_autograd[key]) < 1e-12, key
        assert float(by_autograd[key].abs().max()) > 0.0 or labels != "mixed"
    assert loss.gradients(outputs, batch).keys() == grads.keys()


def _two_nets():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    return net, copy.deepcopy(net)


@pytest.mark.parametrize(
    ("kind", "momentum"), [("amsgrad", None), ("adam", None), ("sgd", 0.9), ("sgd", None)]
)
@pytest.mark.parametrize("clip", [None, 0.5])
@pytest.mark.parametrize(
    ("written", "fused"), [(False, True), (True, True), (False, False)], ids=["step", "written", "unfused"]
)
def test_flat_optimizer_equals_torch_optim(kind, momentum, clip, written, fused):
    ours_net, ref_net = _two_nets()
    ours = FlatOptimizer(list(ours_net.parameters()), kind, 0.01, momentum)
    assert ours._fused == (kind != "sgd")  # this torch has the fused Adam kernel on the CPU
    ours._fused = ours._fused and fused
    if kind == "sgd":
        ref = torch.optim.SGD(
            ref_net.parameters(), lr=0.01, momentum=momentum or 0.0, nesterov=bool(momentum)
        )
    else:
        ref = torch.optim.Adam(ref_net.parameters(), lr=0.01, amsgrad=kind == "amsgrad")
    generator = torch.Generator().manual_seed(2)
    for step in range(40):
        x = torch.randn(16, 3, generator=generator, dtype=torch.float64)
        for net, opt in ((ours_net, ours), (ref_net, ref)):
            opt.zero_grad()
            (net(x) ** 2).sum().backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(ref_net.parameters(), clip)
        if written:  # as a hand-written backward pass does: the gradients go into the flat buffer
            for view, p in zip(ours.gradient_views, ours_net.parameters(), strict=True):
                view.copy_(p.grad)
                p.grad = None
            ours.step_written(clip_gradient=clip)
        else:
            ours.step(clip_gradient=clip)
        ref.step()
        if step == 20:
            ours.param_groups[0]["lr"] = 0.003
            for group in ref.param_groups:
                group["lr"] = 0.003
    for a, b in zip(ours_net.parameters(), ref_net.parameters(), strict=True):
        assert _relative_error(a.detach(), b.detach()) < 1e-13
    start = _two_nets()[0].parameters()
    moved = float(
        sum((a - b).abs().sum() for a, b in zip(ours_net.parameters(), start, strict=True)).detach()
    )
    assert moved > 0.1  # the optimisers did move the parameters
    ours.release()
    pointers = {p.data_ptr() for p in ours_net.parameters()}
    assert len(pointers) == 4
    assert all(p.is_leaf and p.requires_grad for p in ours_net.parameters())


def test_flat_optimizer_rejects_unknown_names():
    with pytest.raises(Exception, match="Unknown optimizer"):
        FlatOptimizer([torch.zeros(2, requires_grad=True)], "adagrad")


def _toy(n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-2, 2, size=(n, 1))
    y = (np.arange(n) % 2).astype(float)[:, None]
    z = rng.normal(np.where(y == 0, theta, 0.0), 1.0)
    x = np.hstack([z + rng.normal(size=(n, 1)), rng.normal(size=(n, 1))])
    return {
        "x": x,
        "y": y,
        "theta": theta,
        "r_xz": np.exp((z**2 - (z - theta) ** 2) / 2),
        "t_xz": z - theta,
    }


def _train_twice(monkeypatch, make, train):
    results = []
    for flag in ("1", "0"):
        monkeypatch.setenv("MOTHERLODE_MANUAL_GRADIENTS", flag)
        torch.manual_seed(11)
        estimator = make()
        losses = train(estimator)
        results.append((estimator, losses))
    return results


@pytest.mark.parametrize("method", ["carl", "rolr", "alice", "cascal", "rascal", "alices"])
def test_ratio_training_is_the_same_with_manual_gradients(monkeypatch, method):
    data = _toy()
    (manual, (train_m, val_m)), (auto, (train_a, val_a)) = _train_twice(
        monkeypatch,
        lambda: ParameterizedRatioEstimator(n_hidden=(16, 16)),
        lambda est: est.train(method, **data, n_epochs=3, verbose="none"),
    )
    np.testing.assert_allclose(train_m, train_a, rtol=2e-4)
    np.testing.assert_allclose(val_m, val_a, rtol=2e-4)
    x_test = data["x"][:50]
    log_m, t_m = manual.evaluate_log_likelihood_ratio(x_test, data["theta"][:50], False, evaluate_score=True)
    log_a, t_a = auto.evaluate_log_likelihood_ratio(x_test, data["theta"][:50], False, evaluate_score=True)
    np.testing.assert_allclose(log_m, log_a, atol=2e-4)
    np.testing.assert_allclose(t_m, t_a, atol=2e-4)


def test_score_and_double_training_is_the_same_with_manual_gradients(monkeypatch):
    data = _toy()
    runs = _train_twice(
        monkeypatch,
        lambda: ScoreEstimator(n_hidden=(16,)),
        lambda est: est.train("sally", x=data["x"], t_xz=data["t_xz"], n_epochs=3, verbose="none"),
    )
    np.testing.assert_allclose(runs[0][1][0], runs[1][1][0], rtol=2e-4)
    theta1 = np.zeros_like(data["theta"])
    runs = _train_twice(
        monkeypatch,
        lambda: DoubleParameterizedRatioEstimator(n_hidden=(16,)),
        lambda est: est.train(
            "alices",
            x=data["x"],
            y=data["y"],
            theta0=data["theta"],
            theta1=theta1,
            r_xz=data["r_xz"],
            t_xz0=data["t_xz"],
            t_xz1=-data["t_xz"],
            n_epochs=3,
            verbose="none",
        ),
    )
    np.testing.assert_allclose(runs[0][1][0], runs[1][1][0], rtol=2e-4)
    np.testing.assert_allclose(runs[0][1][1], runs[1][1][1], rtol=2e-4)


def test_training_does_not_import_torch_dynamo():
    """The first ``torch.optim`` optimiser of a process imports torch._dynamo and sympy (about 1 s)."""
    code = (
        "import sys, numpy as np\n"
        "from motherlode.ml import ParameterizedRatioEstimator\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.normal(size=(200, 2)); theta = rng.normal(size=(200, 1))\n"
        "y = (rng.random((200, 1)) < 0.5) * 1.0\n"
        "ParameterizedRatioEstimator(n_hidden=(8,)).train('cascal', x=x, y=y, theta=theta, t_xz=theta,"
        " n_epochs=2, verbose='none')\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_prepare_training_then_fit_is_train():
    data = _toy(600)
    kwargs = {"method": "alices", **data, "n_epochs": 2, "verbose": "none"}
    torch.manual_seed(4)
    direct = ParameterizedRatioEstimator(n_hidden=(8,))
    losses_direct = direct.train(**kwargs)
    torch.manual_seed(4)
    staged = ParameterizedRatioEstimator(n_hidden=(8,))
    setup = staged.prepare_training(kwargs.pop("method"), **kwargs)
    assert staged.model is not None and staged.x_scaling_means is not None  # prepared, not trained
    assert setup.options["n_epochs"] == 2 and setup.manual is not None and setup.loss.method == "alices"
    losses_staged = staged.fit(setup)
    for a, b in zip(losses_direct, losses_staged, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError):
        staged.prepare_training(method="alices", unknown_option=1)

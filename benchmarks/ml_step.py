"""The cost of one training step, by method: autograd against the hand-written passes, and where it goes.

A step of a ``n_hidden=(50, 50)`` network on a batch of 128 (``--batch-size``) on the CPU (one thread,
as the trainer runs networks this small): forward pass, loss, backward pass, optimiser update (AMSGrad).
"autograd" is the step with autograd differentiating the network (twice for the score methods:
``create_graph``), as with ``MOTHERLODE_MANUAL_GRADIENTS=0``; "manual" the torch step of
``motherlode.ml.trainer`` (the stacked forward-mode tangents of ``DenseNetwork.forward_pass``, the
losses' closed-form value and gradient, the hand-written backward pass into the flat optimiser's
buffer), also split into its parts; "compiled" the step of ``motherlode.ml.kernels`` (the same step as
one numba-compiled call, then the optimiser), which trainings of at least ``kernels.MIN_STEPS`` steps
take. Each figure is the median over ``--repeats`` runs of ``--steps`` steps on fresh batches (timings
on these shared cores drift by up to 2x between minutes).

Shapes: ``toy`` (1 observable, 1 parameter: the toy of ``_ml_toy_common.py``) and ``wh`` (6 observables,
2 parameters: the W h example's; random numbers of that shape, alpha = 10).

Usage::

    python benchmarks/ml_step.py [--shape toy|wh] [--methods carl ...] [--steps 2000] [--repeats 5]
                                 [--threads 1] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from motherlode.ml.kernels import compiled_step
from motherlode.ml.losses import SallyLoss, get_loss
from motherlode.ml.networks import DenseNetwork, ParameterizedRatioModel
from motherlode.ml.optim import FlatOptimizer
from motherlode.ml.parameterized_ratio import _ratio_forward, _ratio_manual
from motherlode.ml.score import _score_forward, _score_manual
from motherlode.ml.trainer import Trainer

METHODS = ("carl", "rolr", "alice", "cascal", "rascal", "alices", "sally")
PARTS = ("forward", "loss", "backward", "optimiser")
SHAPES = {"toy": (1, 1, 1.0), "wh": (6, 2, 10.0)}  # observables, parameters, alpha


def batches(
    n_observables: int, n_parameters: int, n_batches: int, batch_size: int = 128, seed: int = 0
) -> list[dict]:
    """Batches of standardised-looking samples with labels, joint ratios and joint scores."""
    rng = np.random.default_rng(seed)
    n = batch_size * n_batches
    arrays = {
        "x": rng.normal(size=(n, n_observables)),
        "theta": rng.normal(size=(n, n_parameters)),
        "y": (rng.random((n, 1)) < 0.5).astype(float),
        "r_xz": np.exp(rng.normal(size=(n, 1))),
        "t_xz": rng.normal(size=(n, n_parameters)),
    }
    tensors = {key: torch.tensor(value, dtype=torch.float32) for key, value in arrays.items()}
    return [
        {key: value[i : i + batch_size] for key, value in tensors.items()} for i in range(0, n, batch_size)
    ]


def trainer(method: str, n_observables: int, n_parameters: int, alpha: float, manual: bool) -> Trainer:
    torch.manual_seed(0)
    if method == "sally":
        model = DenseNetwork(n_observables, (50, 50), n_parameters)
        return Trainer(model, SallyLoss(), _score_forward, "cpu", manual=_score_manual if manual else None)
    model = ParameterizedRatioModel(n_observables, n_parameters, (50, 50))
    loss = get_loss(method, alpha)
    return Trainer(model, loss, _ratio_forward, "cpu", manual=_ratio_manual if manual else None)


def autograd_step(run: Trainer, opt: FlatOptimizer, batch: dict) -> None:
    opt.zero_grad()
    run._step(batch, opt, None)


def manual_parts(run: Trainer, opt: FlatOptimizer, batch: dict, parts: dict[str, float]) -> None:
    """The manual step of ``Trainer._manual_step``, timed part by part."""
    with torch.inference_mode():
        t0 = time.perf_counter()
        outputs, backward = run.manual(run.model, batch, run.loss.needs_score)
        t1 = time.perf_counter()
        _, grads = run.loss.value_and_gradients(outputs, batch)
        t2 = time.perf_counter()
        backward(grads, opt.gradient_views)
        t3 = time.perf_counter()
        opt.step_written()
        t4 = time.perf_counter()
    for name, seconds in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
        parts[name] += seconds


def measure(method: str, shape: str, n_steps: int, repeats: int, batch_size: int = 128) -> dict[str, float]:
    """Median milliseconds per step: autograd, manual, and the manual step's parts."""
    n_observables, n_parameters, alpha = SHAPES[shape]
    data = batches(n_observables, n_parameters, n_steps, batch_size)
    runs = {"autograd": trainer(method, n_observables, n_parameters, alpha, manual=False)}
    runs["manual"] = trainer(method, n_observables, n_parameters, alpha, manual=True)
    runs["compiled"] = trainer(method, n_observables, n_parameters, alpha, manual=True)
    opts = {name: FlatOptimizer(list(run.model.parameters()), "amsgrad", 0.001) for name, run in runs.items()}
    compiled = compiled_step(runs["compiled"].model, runs["compiled"].loss, opts["compiled"])
    assert compiled is not None
    results: dict[str, list[float]] = {}
    for _ in range(repeats + 1):  # the first round warms up
        for name, run in runs.items():
            start = time.perf_counter()
            for batch in data:
                if name == "compiled":
                    compiled(batch)
                elif name == "manual":
                    run._manual_step(batch, opts[name], None)
                else:
                    autograd_step(run, opts[name], batch)
            results.setdefault(name, []).append((time.perf_counter() - start) / n_steps * 1e3)
        parts = dict.fromkeys(PARTS, 0.0)
        for batch in data:
            manual_parts(runs["manual"], opts["manual"], batch, parts)
        for name, seconds in parts.items():
            results.setdefault(name, []).append(seconds / n_steps * 1e3)
    return {name: statistics.median(values[1:]) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="toy")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU thread count")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_observables, n_parameters, alpha = SHAPES[args.shape]
    print(
        f"{args.shape}: {n_observables} observables, {n_parameters} parameters, alpha {alpha}, "
        f"n_hidden=(50, 50), batch {args.batch_size}, {args.threads} thread(s), "
        f"ms per step (median of {args.repeats} x {args.steps} steps), torch {torch.__version__}"
    )
    columns = ("autograd", "manual", *PARTS, "compiled")
    print(
        f"{'method':8s} "
        + " ".join(f"{c:>9s}" for c in columns)
        + f" {'autograd/manual':>16s} {'manual/compiled':>16s}"
    )
    for method in args.methods:
        row = measure(method, args.shape, args.steps, args.repeats, args.batch_size)
        cells = " ".join(f"{row[c]:9.3f}" for c in columns)
        print(
            f"{method:8s} {cells} {row['autograd'] / row['manual']:15.2f}x "
            f"{row['manual'] / row['compiled']:15.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""What checkpoints cost, and what resuming saves: reading, sampling, training and a limit scan.

Each job runs three ways: without a checkpoint; with a checkpoint folder (the price of recording
every chunk, batch, epoch or block); and interrupted half-way (a ``KeyboardInterrupt`` raised in
the middle, as a kill would stop it) then run again with the same folder (the time of the rerun).
The resumed output is checked against the uninterrupted one, bit for bit.

* ``read``: ``LHEReader`` on ``--files`` gzipped copies of the Drell-Yan file of ``benchmarks/lhe.py``
  (``--events-per-file`` each, chunks of ``--chunk-size``), 20 observables, 2 cuts, smearing, the
  shuffled ``save``; interrupted after half of the chunks;
* ``sample``: ``sample_train_ratio`` (``--samples`` samples over 100 theta0, theta1 = sm) from the
  events file of ``benchmarks/sampling.py`` with ``--sampling-events`` events (batches of 100 000
  events); interrupted after half of the batches of the last pass (the draws);
* ``train``: ALICES, (50, 50) network, batch 128, ``--epochs`` epochs on ``--train-samples`` samples of
  that file; interrupted after half of the epochs;
* ``limits``: ``expected_limits`` in mode ``"ml"`` with that estimator on a ``--grid`` x ``--grid``
  grid and the Asimov events of the test partition (recorded at most once a second, the default);
  interrupted after half of the event chunks.

Usage::

    python benchmarks/resume.py [--files 4] [--events-per-file 25000] [--chunk-size 10000]
                                [--sampling-events 1000000] [--samples 100000]
                                [--train-samples 100000] [--epochs 10] [--grid 20]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from lhe import ANALYSIS_SETUP, configure_scaling_reader, lhe_file  # the script's folder is on sys.path
from motherlode import LHEReader, SampleAugmenter
from motherlode.limits import AsymptoticLimits
from motherlode.ml import ParameterizedRatioEstimator
from motherlode.ml.trainer import Trainer
from motherlode.readers import EventReader
from motherlode.sampling import benchmark, random_morphing_points
from motherlode.sampling import sampleaugmenter as sampling_module
from sampling import PRIORS, events_file


class Interrupted(KeyboardInterrupt):
    """Raised half-way through a job (a kill would stop it there)."""


@contextlib.contextmanager
def interrupted_after(owner: Any, name: str, n_calls: int) -> Iterator[list[int]]:
    """``owner.name`` raises :class:`Interrupted` on call ``n_calls + 1``; yields the call count."""
    original = getattr(owner, name)
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] > n_calls:
            raise Interrupted
        return original(*args, **kwargs)

    setattr(owner, name, counted)
    try:
        yield calls
    finally:
        setattr(owner, name, original)


def timed(job: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = job()
    return time.perf_counter() - start, result


def measure(
    job: Callable[[Path | None], Any], folder: Path, owner: Any, name: str
) -> tuple[int, float, float, float, float, int, bool]:
    """The pieces of a job (calls of ``owner.name`` in a plain run), the seconds without and with a
    checkpoint, of a run interrupted after half of the pieces and of its rerun, how many pieces the
    rerun computed, and whether its output equals the plain run's."""
    with interrupted_after(owner, name, 10**9) as pieces:
        plain, reference = timed(lambda: job(None))
    recorded, _ = timed(lambda: job(folder / "recorded"))
    start = time.perf_counter()
    with interrupted_after(owner, name, pieces[0] // 2), contextlib.suppress(Interrupted):
        job(folder / "interrupted")
    interrupted = time.perf_counter() - start
    with interrupted_after(owner, name, 10**9) as calls:
        rerun, resumed = timed(lambda: job(folder / "interrupted"))
    return pieces[0], plain, recorded, interrupted, rerun, calls[0], _same(reference, resumed)


def _same(first: Any, second: Any) -> bool:
    if isinstance(first, dict):
        first, second = list(first.values()), list(second.values())
    if isinstance(first, np.ndarray):
        first, second = [first], [second]
    return all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(first, second, strict=True))


# ---------------------------------------------------------------------------- the jobs


def read_job(paths: list[Path], chunk_size: int, output: Path) -> Callable[[Path | None], Any]:
    def job(checkpoint: Path | None) -> dict[str, np.ndarray]:
        reader = LHEReader(
            ANALYSIS_SETUP, random_state=1, chunk_size=chunk_size, progress=False, checkpoint=checkpoint
        )
        configure_scaling_reader(reader, paths)
        reader.analyse_samples()
        reader.save(output)
        with h5py.File(output, "r") as handle:
            return {name: handle[f"samples/{name}"][()] for name in ("observations", "weights")}

    return job


def sample_job(path: Path, n_samples: int) -> Callable[[Path | None], Any]:
    def job(checkpoint: Path | None) -> list[np.ndarray]:
        augmenter = SampleAugmenter(path, checkpoint=checkpoint)
        x, theta0, _, y, r_xz, t_xz, _ = augmenter.sample_train_ratio(
            random_morphing_points(100, PRIORS), benchmark("sm"), n_samples, random_state=3
        )
        return [x, theta0, y, r_xz, t_xz]

    return job


def train_job(arrays: list[np.ndarray], n_epochs: int) -> Callable[[Path | None], Any]:
    x, theta, y, r_xz, t_xz = arrays

    def job(checkpoint: Path | None) -> list[np.ndarray]:
        torch.manual_seed(7)
        estimator = ParameterizedRatioEstimator(n_hidden=(50, 50))
        estimator.train(
            method="alices", x=x, theta=theta, y=y, r_xz=r_xz, t_xz=t_xz, n_epochs=n_epochs,
            batch_size=128, verbose="none", device="cpu", checkpoint=checkpoint,
        )  # fmt: skip
        return [value.detach().numpy() for value in estimator.model.state_dict().values()]

    return job


def limits_job(path: Path, model: Path, grid: int) -> Callable[[Path | None], Any]:
    def job(checkpoint: Path | None) -> list[np.ndarray]:
        limits = AsymptoticLimits(path, checkpoint=checkpoint)
        _, p_values, best_fit, *_ = limits.expected_limits(
            "ml", [0.0, 0.0], grid_ranges=[(-1.0, 1.0), (-1.0, 1.0)], grid_resolutions=[grid, grid],
            model_file=str(model), luminosity=1000.0, include_xsec=True,
        )  # fmt: skip
        return [p_values, np.asarray(best_fit)]

    return job


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--events-per-file", type=int, default=25_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--sampling-events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--train-samples", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--grid", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)

    paths = [lhe_file(args.events_per_file, compress=True)] * args.files
    sampling_file = events_file(args.sampling_events)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        read = read_job(paths, args.chunk_size, folder / "events.h5")
        read(None)  # warm-up: imports, first-use costs
        rows.append(("read", "chunks", *measure(read, folder / "read", EventReader, "_analyse_chunk")))
        sample = sample_job(sampling_file, args.samples)
        rows.append(
            (
                "sample",
                "batches (pass 3)",
                *measure(sample, folder / "sample", sampling_module, "_batch_draw"),
            )
        )
        arrays = sample_job(sampling_file, args.train_samples)(None)
        train = train_job(arrays, args.epochs)
        rows.append(("train", "epochs", *measure(train, folder / "train", Trainer, "_train_epoch")))
        torch.manual_seed(7)
        estimator = ParameterizedRatioEstimator(n_hidden=(50, 50))
        x, theta, y, r_xz, t_xz = arrays
        estimator.train(
            method="alices", x=x, theta=theta, y=y, r_xz=r_xz, t_xz=t_xz, n_epochs=2, verbose="none",
            device="cpu",
        )  # fmt: skip
        estimator.save(folder / "model" / "alices")
        limits = limits_job(sampling_file, folder / "model" / "alices", args.grid)
        evaluate = "evaluate_log_likelihood_ratio"
        rows.append(
            (
                "limits",
                "event blocks",
                *measure(limits, folder / "limits", ParameterizedRatioEstimator, evaluate),
            )
        )

    print(
        f"read: {args.files} files x {args.events_per_file} events in chunks of {args.chunk_size}; "
        f"sample: {args.samples} samples from {args.sampling_events} events; train: ALICES (50, 50), "
        f"{args.train_samples} samples, {args.epochs} epochs; limits: mode ml, {args.grid}x{args.grid} grid"
    )
    print()
    print(f"{'job':8s} {'pieces':>22s} {'plain s':>8s} {'recorded s':>11s} {'cost':>6s} "
          f"{'stopped at s':>13s} {'rerun s':>8s} {'computed':>9s} {'same':>5s}")  # fmt: skip
    for job, unit, n, plain, recorded, interrupted, rerun, calls, same in rows:
        print(
            f"{job:8s} {f'{n} {unit}':>22s} {plain:8.2f} {recorded:11.2f} "
            f"{100 * (recorded / plain - 1):5.1f}% "
            f"{interrupted:13.2f} {rerun:8.2f} {f'{calls}/{n}':>9s} {'yes' if same else 'NO':>5s}"
        )
    print()
    print("cost: recorded vs plain; stopped at: the interrupted run's time; rerun: the resumed run's time;")
    print("computed: the pieces the rerun computed (the others were read from the checkpoint)")


if __name__ == "__main__":
    main()

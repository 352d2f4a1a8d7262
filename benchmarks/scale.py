"""Scaling out with Dask: events/s of LHE reading and sampling against the number of workers.

Each measurement runs the same job here (no Dask) and on local clusters of 1, 2, ... single-threaded
worker processes (``motherlode.parallel.cluster_client("local", n)``, started and warmed up before the
clock starts), checks that every output equals the run
here bit for bit, and prints events/s and the speed-up over the run here. A third section
measures the cost of one task: ``map_ordered`` over trivial tasks, per task.

* ``read``: ``LHEReader`` on ``--files`` gzipped copies of the Drell-Yan file of ``benchmarks/lhe.py``
  (``--events-per-file`` each: one task per file), its 20 observables and 2 cuts, smearing, the
  shuffled ``save``;
* ``sample``: ``sample_train_ratio`` (``--samples`` samples over 100 theta0, theta1 = sm) from the
  events file of ``benchmarks/sampling.py`` with ``--sampling-events`` events (one task per
  batch of 100 000 events in each of the three passes);
* ``overhead``: wall time per task of ``--tasks`` trivial tasks on each cluster.

Usage::

    python benchmarks/scale.py [--workers 1 2] [--files 8] [--events-per-file 25000]
                               [--sampling-events 1000000] [--samples 100000] [--tasks 500]
                               [--dask-defaults]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from lhe import (  # the script's folder is on sys.path
    ANALYSIS_SETUP,
    SCALING_CUTS,
    SCALING_OBSERVABLES,
    configure_scaling_reader,
    lhe_file,
)
from motherlode import LHEReader, SampleAugmenter
from motherlode.parallel import cluster_client, map_ordered
from motherlode.sampling import benchmark, random_morphing_points
from sampling import PRIORS, events_file


def read(paths: list[Path], client, output: Path) -> tuple[float, dict[str, np.ndarray]]:
    """Seconds of one LHEReader job (construction to save) and the events it wrote."""
    start = time.perf_counter()
    reader = LHEReader(ANALYSIS_SETUP, random_state=1, progress=False, client=client, tmp_dir=output.parent)
    configure_scaling_reader(reader, paths)
    reader.analyse_samples()
    reader.save(output)
    seconds = time.perf_counter() - start
    with h5py.File(output, "r") as handle:
        arrays = {name: handle[f"samples/{name}"][()] for name in ("observations", "weights")}
    return seconds, arrays


def sample(path: Path, n_samples: int, client) -> tuple[float, list[np.ndarray]]:
    start = time.perf_counter()
    augmenter = SampleAugmenter(path, client=client)
    x, theta0, _, y, r_xz, t_xz, _ = augmenter.sample_train_ratio(
        random_morphing_points(100, PRIORS), benchmark("sm"), n_samples, random_state=3
    )
    return time.perf_counter() - start, [x, theta0, y, r_xz, t_xz]


@contextlib.contextmanager
def _local_client(n_workers: int, dask_defaults: bool):
    """motherlode's local cluster (single-threaded worker processes without MALLOC_TRIM_THRESHOLD_), or
    with ``dask_defaults`` a plain LocalCluster of the same workers."""
    if not dask_defaults:
        with cluster_client("local", n_workers) as client:
            yield client
        return
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _nothing(i: int) -> int:
    return i


def overhead(client, n_tasks: int) -> float:
    """Wall seconds per trivial task."""
    start = time.perf_counter()
    list(map_ordered(_nothing, range(n_tasks), client))
    return (time.perf_counter() - start) / n_tasks


def _same(first, second) -> bool:
    if isinstance(first, dict):
        first, second = list(first.values()), list(second.values())
    return all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--events-per-file", type=int, default=25_000)
    parser.add_argument("--sampling-events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument(
        "--dask-defaults",
        action="store_true",
        help="plain LocalClusters: workers with Dask's MALLOC_TRIM_THRESHOLD_=65536 (motherlode's have none)",
    )
    args = parser.parse_args()

    paths = [lhe_file(args.events_per_file, compress=True)] * args.files
    n_read = args.files * args.events_per_file
    sampling_file = events_file(args.sampling_events)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        read(paths[:1], None, folder / "warm-up.h5")  # imports and first-use costs, as on the workers
        sample(sampling_file, 1000, None)
        read_here, events_here = read(paths, None, folder / "here.h5")
        sample_here, samples_here = sample(sampling_file, args.samples, None)
        rows.append(("here (no Dask)", read_here, True, sample_here, True, None))
        for n in args.workers:
            with _local_client(n, args.dask_defaults) as client:
                client.wait_for_workers(n)
                # warm-up: the workers import what the tasks need
                read(paths[:n], client, folder / "warm-up.h5")
                sample(sampling_file, 1000, client)
                read_seconds, events = read(paths, client, folder / f"dask_{n}.h5")
                sample_seconds, samples = sample(sampling_file, args.samples, client)
                per_task = overhead(client, args.tasks)
            rows.append(
                (f"{n} worker(s)", read_seconds, _same(events_here, events), sample_seconds,
                 _same(samples_here, samples), per_task)
            )  # fmt: skip
    print(f"LHE reading: {args.files} files x {args.events_per_file} events ({n_read} events), "
          f"{len(SCALING_OBSERVABLES)} observables, {len(SCALING_CUTS)} cuts, smearing, "
          "shuffled save")  # fmt: skip
    print(
        f"sampling: sample_train_ratio, {args.samples} samples over 100 theta0 "
        f"from {args.sampling_events} events"
    )
    print()
    header = (
        f"{'':16s} {'read s':>7s} {'events/s':>9s} {'x here':>6s} {'same':>5s} "
        f"{'sample s':>9s} {'events/s':>10s} {'x here':>6s} {'same':>5s} {'ms/task':>8s}"
    )
    print(header)
    for label, read_seconds, read_same, sample_seconds, sample_same, per_task in rows:
        print(
            f"{label:16s} {read_seconds:7.2f} {n_read / read_seconds:9.0f} {read_here / read_seconds:6.2f} "
            f"{'yes' if read_same else 'NO':>5s} {sample_seconds:9.2f} "
            f"{args.sampling_events / sample_seconds:10.0f} {sample_here / sample_seconds:6.2f} "
            f"{'yes' if sample_same else 'NO':>5s} "
            f"{'' if per_task is None else f'{1000 * per_task:8.2f}':>8s}"
        )
    print()
    print("sampling events/s: events of the file per second (each half of the sample makes three passes over")
    print("the 60 % training partition: six passes of 6 tasks each with 10^6 events)")


if __name__ == "__main__":
    main()

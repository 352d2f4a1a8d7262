"""Independent tasks, run here one after the other or as Dask tasks, with results in a fixed order.

Every stage that scales out (the readers: one task per file, or per chunk where the format allows;
sampling: one task per batch of
events; ensembles: one task per member; MadGraph jobs: one task per job) hands its tasks to
:func:`map_ordered`. Without a client the tasks run in this process, one after the other, exactly
as before Dask existed. With a Dask client they run on its workers; the results come back in
task order, so that everything reduced from them (sums, spooled events, random draws) is the same
bit for bit whatever the number of workers or the order in which they finish.

Randomness never comes from a shared stream: each task gets its own seed from
:func:`task_seed`, a ``numpy.random.SeedSequence`` derived from the user's seed and the task's
position (``spawn_key``), the same as ``SeedSequence.spawn`` would give.

Clients
-------
``client`` arguments accept:

* ``None`` (default): no Dask; tasks run in this process;
* a ``distributed.Client`` (any cluster: local, dask-jobqueue's SLURM or HTCondor, a gateway);
* ``"local"``: a ``LocalCluster`` of one single-threaded worker process per core, started for the
  call and closed after it; an ``int`` ``n``: the same with ``n`` worker processes;
* a scheduler address (``"tcp://host:8786"``): a client connected to that scheduler.

Dask is an optional dependency (``pip install motherlode[dask]``).

Examples
--------
>>> list(map_ordered(abs, [-1, 2, -3]))
[1, 2, 3]
>>> task_seed(42, 0, 3).generate_state(1) == task_seed(42, 0, 3).generate_state(1)
array([ True])
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

import numpy as np

from .errors import SetupError

__all__ = [
    "ClientLike",
    "cluster_client",
    "dask_client",
    "jobqueue_cluster",
    "map_ordered",
    "root_entropy",
    "task_rng",
    "task_seed",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: What a ``client`` argument accepts (see the module documentation).
ClientLike = Any


def root_entropy(random_state: int | np.random.Generator | np.random.SeedSequence | None) -> int:
    """The entropy every task seed of one call derives from.

    An ``int`` is used as it is (the same seed gives the same output); a ``Generator`` is asked for
    one 128-bit number (so that successive calls with the same generator differ); ``None`` takes
    fresh entropy from the operating system.
    """
    if isinstance(random_state, np.random.SeedSequence):
        return int(cast(int, random_state.entropy))
    if isinstance(random_state, np.random.Generator):
        high, low = random_state.integers(0, 2**64, size=2, dtype=np.uint64)
        return (int(high) << 64) | int(low)
    if random_state is None:
        return int(cast(int, np.random.SeedSequence().entropy))  # fresh entropy is one int
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise SetupError(f"random_state must be non-negative, got {random_state}")
        return int(random_state)
    raise SetupError(f"random_state must be an int, a numpy Generator or None, got {random_state!r}")


def task_seed(entropy: int, *key: int) -> np.random.SeedSequence:
    """The seed of the task at position ``key`` (e.g. sample 2, chunk 5) of a call with ``entropy``.

    Equal to the ``SeedSequence`` that ``SeedSequence(entropy).spawn`` would give at that position
    of the spawn tree, without having to know how many tasks there are.
    """
    return np.random.SeedSequence(entropy, spawn_key=tuple(int(k) for k in key))


def task_rng(entropy: int, *key: int) -> np.random.Generator:
    """A generator seeded with :func:`task_seed`."""
    return np.random.default_rng(task_seed(entropy, *key))


@contextlib.contextmanager
def dask_client(client: ClientLike) -> Iterator[Any]:
    """The Dask client ``client`` stands for (None stays None), opened and closed if made here."""
    if client is None:
        yield None
        return
    distributed = _import_distributed()
    if isinstance(client, distributed.Client):
        yield client
        return
    if client == "local":
        cluster: tuple[str, int | None, str | None] = ("local", None, None)
    elif isinstance(client, str):
        cluster = ("address", None, client)
    elif isinstance(client, int) and not isinstance(client, bool) and client >= 1:
        cluster = ("local", client, None)
    else:
        raise SetupError(
            f"client must be None, a dask.distributed Client, 'local', a number of workers or a scheduler "
            f"address, got {client!r}"
        )
    with cluster_client(*cluster) as made:
        yield made


#: dask-jobqueue's cluster class of each batch system.
JOBQUEUE_CLUSTERS = {
    "slurm": "SLURMCluster",
    "htcondor": "HTCondorCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}


@contextlib.contextmanager
def cluster_client(
    kind: str = "local",
    n_workers: int | None = 2,
    address: str | None = None,
    options: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """A Dask client on a cluster made here (the workflow's ``cluster:`` section, a ``client``
    argument that is not a client), closed afterwards.

    ``kind`` is ``"local"`` (a ``LocalCluster`` of ``n_workers`` single-threaded processes; None:
    one per core),
    ``"address"`` (the scheduler at ``address``) or a batch system of dask-jobqueue (``"slurm"``,
    ``"htcondor"``, ``"pbs"``, ``"sge"``, ``"lsf"``; ``n_workers`` workers, ``options`` are its
    cluster class's keyword arguments).
    """
    distributed = _import_distributed()
    options = dict(options or {})
    if kind == "address":
        if not address:
            raise SetupError("cluster kind 'address' needs the scheduler's address")
        with distributed.Client(address) as client:
            yield client
        return
    if kind == "local":
        options = {"threads_per_worker": 1, "dashboard_address": ":0", **options}
        with _numpy_friendly_workers():
            cluster_context: Any = distributed.LocalCluster(n_workers=n_workers, processes=True, **options)
    elif kind in JOBQUEUE_CLUSTERS:
        cluster_context = jobqueue_cluster(kind, options)
        cluster_context.scale(2 if n_workers is None else n_workers)
    else:
        raise SetupError(
            f"unknown cluster kind {kind!r}: local, address or one of {', '.join(JOBQUEUE_CLUSTERS)}"
        )
    with cluster_context as cluster, distributed.Client(cluster) as client:
        logger.info("Started %s", cluster)
        yield client


def jobqueue_cluster(kind: str, options: dict[str, Any]) -> Any:
    """dask-jobqueue's cluster object of batch system ``kind`` (``"slurm"``, ``"htcondor"``, ...) made
    with ``options``: nothing is submitted until it is scaled (``job_script()`` shows the job)."""
    try:
        import dask_jobqueue
    except ImportError:
        raise SetupError(
            f"cluster kind {kind!r} needs dask-jobqueue: pip install 'motherlode[jobqueue]'"
        ) from None
    options = dict(options)
    prologue = list(options.get("job_script_prologue") or [])
    options["job_script_prologue"] = [f"export {_NO_TRIM_VARIABLE}=None", *prologue]
    return getattr(dask_jobqueue, JOBQUEUE_CLUSTERS[kind])(**options)


#: Dask's setting (as an environment variable) of the variables its nannies give their workers.
_NO_TRIM_VARIABLE = "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_"


@contextlib.contextmanager
def _numpy_friendly_workers() -> Iterator[None]:
    """Start Dask workers without ``MALLOC_TRIM_THRESHOLD_``.

    Dask's nannies set ``MALLOC_TRIM_THRESHOLD_=65536`` in their workers. Any explicit value turns
    off glibc's dynamic mmap threshold, so that every NumPy array above 128 kB is mapped and unmapped
    afresh: a reader task then takes 2.5 times as long (benchmarks/scale.py). Workers started by
    motherlode go without it (for jobqueue clusters, through the job script).
    """
    import dask

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        yield


def map_ordered(
    function: Callable[..., R],
    tasks: Iterable[T],
    client: ClientLike = None,
    *,
    max_in_flight: int | None = None,
    star: bool = False,
) -> Iterator[R]:
    """``function(task)`` for every task, yielded in task order.

    Parameters
    ----------
    function : callable
        A picklable function (module level, or a bound method of a picklable object).
    tasks : iterable
        The arguments, one per task (a tuple of arguments each when ``star`` is True).
    client : see the module documentation
        Where the tasks run (None: here, one after the other, lazily).
    max_in_flight : int, optional
        With Dask, the most tasks submitted and not yet yielded (default: twice the number of
        worker threads). Bounds the memory of results waiting for an earlier one.
    star : bool, optional
        Call ``function(*task)`` instead of ``function(task)``.

    Yields
    ------
    The results, in the order of ``tasks``. The first task that fails raises its exception here
    (with Dask, the tasks still waiting are cancelled).
    """
    call = (lambda task: function(*task)) if star else function
    if client is None:
        for task in tasks:
            yield call(task)
        return
    with dask_client(client) as dask:
        yield from _map_dask(dask, function, tasks, max_in_flight, star)


def _map_dask(
    client: Any, function: Callable[..., R], tasks: Iterable[T], max_in_flight: int | None, star: bool
) -> Iterator[R]:
    if max_in_flight is None:
        threads = sum(client.nthreads().values()) or 1
        max_in_flight = 2 * threads
    max_in_flight = max(1, int(max_in_flight))
    pending: deque[Any] = deque()
    task_iterator = iter(tasks)
    try:
        while True:
            while len(pending) < max_in_flight:
                task = next(task_iterator, _DONE)
                if task is _DONE:
                    break
                arguments = cast(Iterable[Any], task) if star else (task,)
                pending.append(client.submit(function, *arguments, pure=False))
            if not pending:
                return
            future = pending.popleft()
            yield future.result()
    finally:
        if pending:
            client.cancel(list(pending))


_DONE = object()


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise SetupError(
            "a Dask client was requested, but dask.distributed is not installed: "
            "pip install 'motherlode[dask]'"
        ) from None
    return distributed

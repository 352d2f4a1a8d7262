"""What it costs two processes to hand work to each other: the price of splitting a training step's batch
over both cores of a machine (docs/benchmarks.md, "The second core").

Two processes take turns ``--rounds`` times, each waiting for the other: spinning on a counter in shared
memory (both cores busy) and through a ``multiprocessing`` barrier (semaphores, the usual way). A step
split over two processes needs two such hand-overs (the halves' gradients in, the new weights out).

Usage::

    python benchmarks/process_handoff.py [--rounds 20000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from typing import Any

import numpy as np

CONTEXT = multiprocessing.get_context("spawn")


def _answer_spinning(shared: Any, rounds: int) -> None:
    counters = np.frombuffer(shared.get_obj(), dtype=np.int64)
    for i in range(1, rounds + 1):
        while counters[0] != i:  # wait for the other process's turn to end
            pass
        counters[1] = i


def spinning(rounds: int) -> float:
    """Microseconds per round trip of two processes spinning on counters in shared memory."""
    shared = CONTEXT.Array("q", 2)
    counters = np.frombuffer(shared.get_obj(), dtype=np.int64)
    other = CONTEXT.Process(target=_answer_spinning, args=(shared, rounds))
    other.start()
    time.sleep(1.0)  # the other process has started and spins
    start = time.perf_counter()
    for i in range(1, rounds + 1):
        counters[0] = i
        while counters[1] != i:
            pass
    seconds = time.perf_counter() - start
    other.join()
    return 1e6 * seconds / rounds


def _wait(barrier: Any, rounds: int) -> None:
    for _ in range(rounds):
        barrier.wait()


def with_barrier(rounds: int) -> float:
    """Microseconds per round of a two-party ``multiprocessing.Barrier``."""
    barrier = CONTEXT.Barrier(2)
    other = CONTEXT.Process(target=_wait, args=(barrier, rounds))
    other.start()
    barrier.wait()
    start = time.perf_counter()
    for _ in range(rounds - 1):
        barrier.wait()
    seconds = time.perf_counter() - start
    other.join()
    return 1e6 * seconds / (rounds - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    args = parser.parse_args()
    print(f"spinning on shared memory: {spinning(args.rounds):8.2f} us per round trip")
    print(f"multiprocessing.Barrier:   {with_barrier(args.rounds // 4):8.2f} us per round")


if __name__ == "__main__":
    main()

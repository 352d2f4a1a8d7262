"""Time MadMiner 0.9.6's sample_train_ratio (run under MadMiner's interpreter).

Usage: python _madminer_sampling.py EVENTS.h5 N_SAMPLES N_THETA0 OUTPUT_DIR

Prints one JSON line: seconds, the mean joint ratio of the theta1 half, and the shapes.
"""

from __future__ import annotations

import json
import logging
import sys
import time

logging.disable(logging.CRITICAL)


def main() -> None:
    events, n_samples, n_thetas, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    import numpy as np
    from madminer.sampling import SampleAugmenter, benchmark, random_morphing_points

    np.random.seed(1)  # noqa: NPY002 -- MadMiner draws from NumPy's global generator
    start = time.perf_counter()
    augmenter = SampleAugmenter(events)
    x, _, _, y, r_xz, _, n_effective = augmenter.sample_train_ratio(
        theta0=random_morphing_points(n_thetas, [("flat", -1.0, 1.0), ("flat", -1.0, 1.0)]),
        theta1=benchmark("sm"),
        n_samples=n_samples,
        folder=folder,
        filename="train",
    )
    seconds = time.perf_counter() - start
    mean_r = float(np.mean(r_xz[y[:, 0] == 1]))
    print(
        json.dumps(
            {"seconds": seconds, "n": len(x), "mean_r_theta1": mean_r, "n_effective": float(n_effective)}
        )
    )


if __name__ == "__main__":
    main()

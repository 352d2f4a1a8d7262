"""Run under MadMiner 0.9.6's interpreter by ``benchmarks/morphing.py``: time its per-point morphing.

Usage: python _madminer_morphing.py SETUP.h5 THETAS.npy OUT.npz
Prints one JSON line with the timings; writes MadMiner's weights and gradients to OUT.npz.
"""

import json
import logging
import sys
import time

import numpy as np
from madminer.core import MadMiner

logging.disable(logging.CRITICAL)
setup, thetas_file, out_file = sys.argv[1:4]
miner = MadMiner()
miner.load(setup)
morpher = miner.morpher
thetas = np.load(thetas_file)

start = time.perf_counter()
weights = np.array([morpher.calculate_morphing_weights(theta) for theta in thetas])
weights_seconds = time.perf_counter() - start
start = time.perf_counter()
gradients = np.array([morpher.calculate_morphing_weight_gradient(theta) for theta in thetas])
gradients_seconds = time.perf_counter() - start

np.savez(out_file, weights=weights, gradients=gradients)
print(json.dumps({"weights_seconds": weights_seconds, "gradients_seconds": gradients_seconds}))

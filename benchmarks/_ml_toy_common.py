"""The toy of MadMiner's tutorial (anatomy section 6) with the correct joint score, shared by
``ml_toy.py`` and its MadMiner helper (plain NumPy: it runs under either interpreter).

z ~ N(theta, 2), x ~ N(z, 1), so p(x|theta) = N(x; theta, sqrt 5):
log r(x|theta0, theta1) = ((x - theta1)^2 - (x - theta0)^2) / 10, joint ratio
r(x,z|theta0,theta1) = N(z; theta0, 2) / N(z; theta1, 2) and joint score t(x,z|theta0) = (z - theta0)/4;
the score t(x|theta) = (x - theta)/5.
"""

from __future__ import annotations

import numpy as np

SIGMA_Z, SIGMA_X = 2.0, 1.0


def training_data(n_samples: int, seed: int = 1) -> dict[str, np.ndarray]:
    """``n_samples`` rows: theta0 ~ U(-4, 4), theta1 = 0, half the x from theta0 (y = 0), half from theta1."""
    rng = np.random.default_rng(seed)
    theta0 = rng.uniform(-4.0, 4.0, size=n_samples)
    y = np.zeros(n_samples)
    y[n_samples // 2 :] = 1.0
    theta_true = np.where(y == 0, theta0, 0.0)
    z = rng.normal(theta_true, SIGMA_Z)
    x = rng.normal(z, SIGMA_X)
    log_r_xz = (-((z - theta0) ** 2) + z**2) / (2 * SIGMA_Z**2)
    return {
        "x": x[:, None],
        "theta": theta0[:, None],
        "y": y[:, None],
        "r_xz": np.exp(log_r_xz)[:, None],
        "t_xz": ((z - theta0) / SIGMA_Z**2)[:, None],
    }


def evaluation_grid(seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """MadMiner's test: 20 theta0 in [-4, 4] and 50 x drawn at theta = 1."""
    rng = np.random.default_rng(seed)
    thetas = np.linspace(-4.0, 4.0, 20)[:, None]
    x = rng.normal(1.0, np.sqrt(SIGMA_Z**2 + SIGMA_X**2), size=(50, 1))
    return thetas, x


def true_log_r(thetas: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(n_thetas, n_x) true log r(x|theta0, theta1 = 0)."""
    return (x[None, :, 0] ** 2 - (x[None, :, 0] - thetas[:, None, 0]) ** 2) / (2 * (SIGMA_Z**2 + SIGMA_X**2))


def local_data(n_samples: int, seed: int = 1) -> dict[str, np.ndarray]:
    """SALLY's training data: ``n_samples`` x at theta = 0 with the joint score z/4."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, SIGMA_Z, size=n_samples)
    x = rng.normal(z, SIGMA_X)
    return {"x": x[:, None], "t_xz": (z / SIGMA_Z**2)[:, None]}


def score_test_points(seed: int = 2) -> np.ndarray:
    """1000 x drawn at theta = 0, where SALLY's score is compared with the exact x/5."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, np.sqrt(SIGMA_Z**2 + SIGMA_X**2), size=(1000, 1))


def true_score(x: np.ndarray) -> np.ndarray:
    """The score t(x|theta = 0) = x / 5, shape (n,)."""
    return x[:, 0] / (SIGMA_Z**2 + SIGMA_X**2)

"""The built-in examples (``motherlode example``), quick versions, end to end.

The tolerances come from the full runs (``motherlode example`` and ``motherlode example toy``,
docs/benchmarks.md "The built-in example"): on the W h example the parton-level, rate and histogram
information depend only on the events (reproduced to 1e-3), the SALLY information lies between the
truth and the histogram and within 2.5 times the full run's errors, and every analysis puts the
Asimov best fit at theta_true with theta_true inside its 68 % region. On the toy, the learned
68 % and 95 % intervals are within two grid steps of the exact ones.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from motherlode.examples import WH_DATA, run_example
from motherlode.workflow import STEPS

#: The full run's expected 1-sigma errors (cHW, cHq3) at 300 fb^-1 (docs/benchmarks.md).
FULL_RUN_ERRORS = {
    "truth": (0.006947, 0.002186),
    "histogram pt_bb": (0.04260, 0.01094),
    "sally": (0.02036, 0.00303),
}


def _errors(matrix) -> np.ndarray:
    return np.sqrt(np.diag(np.linalg.inv(np.asarray(matrix))))


@pytest.fixture(scope="module")
def quick_wh(tmp_path_factory, one_torch_thread):
    folder = tmp_path_factory.mktemp("example")
    data_before = sorted(p.name for p in WH_DATA.rglob("*"))
    results = run_example("wh", folder / "out", quick=True, device="cpu")
    assert sorted(p.name for p in WH_DATA.rglob("*")) == data_before  # nothing written next to the data
    return folder, results


def test_quick_example_runs_every_step_into_its_folder(quick_wh):
    folder, results = quick_wh
    assert [(r.step, r.status) for r in results] == [(step, "ran") for step in STEPS]
    assert [p.name for p in folder.iterdir()] == ["out"]
    out = folder / "out"
    for name in ("report.md", "report.html", "plots/limits.png", "plots/fisher_information_contours.png",
                 "plots/distributions.png", "plots/morphing_basis.png",
                 "models/sally/ensemble.json", "evaluation/alices_sm.npz"):  # fmt: skip
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    for analysis in ("| rate |", "| histogram pt_bb |", "| sally |", "| alices |"):
        assert analysis in report


def test_quick_example_information_is_physical(quick_wh):
    folder, _ = quick_wh
    document = json.loads((folder / "out" / "fisher_information.json").read_text())["information"]
    errors = {name: _errors(entry["matrix"]) for name, entry in document.items() if name != "rate"}
    np.testing.assert_allclose(errors["truth"], FULL_RUN_ERRORS["truth"], rtol=1e-3)
    np.testing.assert_allclose(errors["histogram pt_bb"], FULL_RUN_ERRORS["histogram pt_bb"], rtol=1e-3)
    assert np.all(errors["truth"] < errors["sally"]) and np.all(errors["sally"] < errors["histogram pt_bb"])
    assert np.all(errors["sally"] < 2.5 * np.asarray(FULL_RUN_ERRORS["sally"]))
    rate = np.asarray(document["rate"]["matrix"])
    assert np.linalg.matrix_rank(rate, tol=1e-6 * np.abs(rate).max()) == 1  # one number: one direction


def test_quick_example_limits_contain_the_true_point(quick_wh):
    folder, _ = quick_wh
    analyses = json.loads((folder / "out" / "limits.json").read_text())["analyses"]
    for name, summary in analyses.items():
        assert summary["best_fit"] == [0.0, 0.0], name
        assert summary["theta_true_in_68"] and summary["theta_true_in_95"], name
    assert analyses["sally"]["grid_share_95"] < analyses["rate"]["grid_share_95"]
    assert analyses["alices"]["grid_share_95"] < analyses["rate"]["grid_share_95"]


def test_quick_toy_learns_the_exact_limits(tmp_path, one_torch_thread):
    results = run_example("toy", tmp_path / "toy", quick=True, device="cpu")
    assert [r.step for r in results] == ["sampling", "training", "limits", "plots", "report"]
    comparison = json.loads((tmp_path / "toy" / "comparison.json").read_text())
    exact = comparison["exact"]
    for name in ("histogram x (10 bins)", "sally", "alices"):
        for level in ("68", "95"):
            np.testing.assert_allclose(comparison[name][level], exact[level], atol=0.021, err_msg=name)
    assert comparison["rate"]["68"][1] - comparison["rate"]["68"][0] > 2 * (exact["68"][1] - exact["68"][0])
    report = (tmp_path / "toy" / "report.md").read_text()
    assert "## Learned against exact" in report and "plots/learned_vs_exact.png" in report

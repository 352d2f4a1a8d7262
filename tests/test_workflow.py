"""Workflows (``motherlode.workflow``) and the ``motherlode`` command.

A small workflow on the truncated W h files of tests/data/wh_smeft runs every step; then resuming
skips what is unchanged and reruns what changed, a failing step leaves nothing behind, bad configs
give one clear message per field, and the command line does the same through ``run``, ``init`` and
``example``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from conftest import Interrupt, interrupt_after
from motherlode.cli import cli
from motherlode.errors import ConfigError, InputError
from motherlode.workflow import STEPS, Workflow, load_config, template, validate_config

DATA = Path(__file__).parent / "data" / "wh_smeft"
JETS = [1, 2, 3, 4, 5, 21, -1, -2, -3, -4, -5]


def small_config() -> dict:
    """Every section, on the truncated W h files (2000 + 1000 signal, 1000 background events)."""
    return {
        "random_state": 2,
        "device": "cpu",
        "setup": {
            "parameters": [
                {"name": "cHW", "lha_block": "SMEFT", "lha_id": 7, "parameter_range": [-1, 1]},
                {"name": "cHq3", "lha_block": "SMEFT", "lha_id": 25, "parameter_range": [-1, 1]},
            ],
            "benchmarks": {
                "sm": {"cHW": 0, "cHq3": 0}, "b1": {"cHW": 1, "cHq3": 0}, "b2": {"cHW": -1, "cHq3": 0},
                "b3": {"cHW": 0, "cHq3": 1}, "b4": {"cHW": 0, "cHq3": -1}, "b5": {"cHW": 1, "cHq3": 1},
            },
            "morphing": {"max_overall_power": 2},
        },
        "events": {
            "samples": [
                {"file": str(DATA / "wh_smeft_sig_sm_first2000.lhe.gz"), "sampled_from_benchmark": "sm"},
                {"file": str(DATA / "wh_smeft_sig_b5_first1000.lhe.gz"), "sampled_from_benchmark": "b5"},
                {"file": str(DATA / "wbb_bkg_first1000.lhe.gz"), "sampled_from_benchmark": "sm",
                 "is_background": True},
            ],
            "smearing": [{"pdgids": JETS, "energy_resolution_rel": 0.1, "pt_resolution_abs": None,
                          "pt_resolution_rel": None, "eta_resolution_abs": 0.1, "phi_resolution_abs": 0.1}],
            "met_noise": {"abs": 10.0, "rel": 0.05},
            "observables": [
                {"name": "pt_j1", "definition": "j[0].pt", "default": 0.0},
                {"name": "m_bb", "definition": "(j[0] + j[1]).m", "required": True},
                {"name": "pt_bb", "definition": "(j[0] + j[1]).pt", "required": True},
            ],
            "cuts": ["m_bb > 80.0", "m_bb < 160.0"],
        },
        "sampling": {"samples": [
            {"name": "score", "type": "local", "theta": {"benchmark": "sm"}, "n_samples": 2000},
            {"name": "ratio", "type": "ratio", "n_samples": 2000,
             "theta0": {"random_morphing_points": {"n": 50, "priors": [["gaussian", 0, 0.5]] * 2}},
             "theta1": {"benchmark": "sm"}},
            {"name": "check", "type": "test", "theta": {"benchmark": "sm"}, "n_samples": 500},
        ]},
        "training": [
            {"name": "sally", "method": "sally", "sample": "score", "n_hidden": [8], "n_epochs": 2,
             "ensemble": 2},
            {"name": "alices", "method": "alices", "sample": "ratio", "n_hidden": [8], "n_epochs": 2},
        ],
        "evaluation": [
            {"name": "alices_check", "estimator": "alices", "sample": "check",
             "thetas": [[0, 0], [0.2, 0.1]]},
            {"name": "sally_check", "estimator": "sally", "sample": "check"},
        ],
        "fisher_information": {"theta": [0, 0], "luminosity": 3e5, "estimators": ["sally"],
                               "histograms": [{"observable": "pt_bb", "bins": 5}]},
        "limits": {"theta_true": [0, 0], "grid_ranges": [[-0.5, 0.5], [-0.3, 0.3]], "grid_resolutions": 5,
                   "luminosity": 1e4, "analyses": [
                       {"name": "rate", "mode": "rate"},
                       {"name": "pt_bb", "mode": "histo", "hist_vars": ["pt_bb"], "hist_bins": 5},
                       {"name": "sally", "mode": "sally", "estimator": "sally", "hist_bins": 4},
                       {"name": "alices", "mode": "ml", "estimator": "alices"}]},
        "plots": {"distributions": ["m_bb", "pt_bb"], "distribution_benchmarks": ["sm", "b3"]},
        "report": {"title": "test"},
    }  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory, one_torch_thread):
    """The small workflow, run once: (workflow, results)."""
    folder = tmp_path_factory.mktemp("workflow")
    workflow = Workflow(validate_config(small_config()), folder, folder / "results")
    return workflow, workflow.run()


def test_every_step_runs_and_writes_its_outputs(finished):
    workflow, results = finished
    assert [r.step for r in results] == list(STEPS)
    assert all(r.status == "ran" for r in results)
    out = workflow.output
    for name in ("setup.h5", "events.h5", "samples/x_score.npy", "samples/t_xz_score.npy",
                 "samples/x_check.npy", "samples/theta0_ratio.npy", "models/sally/ensemble.json",
                 "models/alices_settings.json", "fisher_information.json", "limits.json", "limits.npz",
                 "plots/limits.png", "plots/morphing_basis.png", "plots/distributions.png",
                 "plots/fisher_information_contours.png", "report.md", "report.html",
                 "manifest.json", "evaluation/alices_check.npz"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not list(out.glob(".staging-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["steps"]) == list(STEPS)
    events_inputs = manifest["steps"]["events"]["inputs"]
    assert "setup.h5" in events_inputs and any(k.endswith("wbb_bkg_first1000.lhe.gz") for k in events_inputs)


def test_results_are_the_physics(finished):
    """The numbers in the result files are those of the public API on the same files."""
    from motherlode.fisherinformation import FisherInformation
    from motherlode.limits import AsymptoticLimits

    workflow, _ = finished
    out = workflow.output
    information = json.loads((out / "fisher_information.json").read_text())
    assert list(information["information"]) == ["truth", "rate", "histogram pt_bb", "sally"]
    truth, _ = FisherInformation(out / "events.h5").truth_information(np.zeros(2), 3e5)
    np.testing.assert_allclose(information["information"]["truth"]["matrix"], truth, rtol=1e-12)
    limits = json.loads((out / "limits.json").read_text())
    assert limits["parameters"] == ["cHW", "cHq3"]
    for name, summary in limits["analyses"].items():  # Asimov data: best fit at theta_true
        assert summary["best_fit"] == [0.0, 0.0], name
        assert summary["theta_true_in_68"] and summary["p_value_at_theta_true"] == pytest.approx(1.0)
    _, p_rate, *_ = AsymptoticLimits(out / "events.h5").expected_limits(
        "rate", [0, 0], grid_ranges=[(-0.5, 0.5), (-0.3, 0.3)], grid_resolutions=5, luminosity=1e4
    )
    with np.load(out / "limits.npz") as arrays:
        np.testing.assert_allclose(arrays["p_values/rate"], p_rate, rtol=1e-12)
        assert arrays["grid"].shape == (25, 2)
    from motherlode.ml.lookup import load_estimator

    x = np.load(out / "samples" / "x_check.npy")
    with np.load(out / "evaluation" / "alices_check.npz") as arrays:
        log_r, _ = load_estimator(out / "models" / "alices").evaluate_log_likelihood_ratio(
            x=x, theta=np.array([[0, 0], [0.2, 0.1]]), test_all_combinations=True, evaluate_score=False
        )
        np.testing.assert_allclose(arrays["log_r"], log_r, rtol=1e-6, atol=1e-7)
        assert arrays["thetas"].shape == (2, 2)
    with np.load(out / "evaluation" / "sally_check.npz") as arrays:
        assert arrays["score"].shape == (len(x), 2) and arrays["score_variance"].shape == (len(x), 2)
    report = (out / "report.md").read_text()
    assert "| sally |" in report and "![limits](plots/limits.png)" in report
    xsecs, _ = FisherInformation(out / "events.h5").xsecs(thetas=["sm"])
    assert f"| sm | 0.0 | 0.0 | {1e3 * xsecs[0]:.4g} +- " in report  # the events section, in fb
    assert "<table>" in (out / "report.html").read_text()


def test_resume_skips_unchanged_steps_and_reruns_changed_ones(finished, tmp_path):
    workflow, _ = finished
    out = tmp_path / "copy"
    shutil.copytree(workflow.output, out)
    again = Workflow(workflow.config, workflow.base, out)
    assert {r.status for r in again.run()} == {"skipped"}
    # a changed limits section reruns limits and what reads its outputs, nothing before
    config = small_config()
    config["limits"]["luminosity"] = 2e4
    changed = Workflow(validate_config(config), workflow.base, out).run()
    assert {r.step: r.status for r in changed} == {
        "setup": "skipped", "events": "skipped", "sampling": "skipped", "training": "skipped",
        "evaluation": "skipped", "fisher_information": "skipped", "limits": "ran", "plots": "ran",
        "report": "ran",
    }  # fmt: skip
    assert json.loads((out / "limits.json").read_text())["luminosity"] == 2e4
    # a missing output reruns its step; force reruns everything; a subset of the steps runs alone
    (out / "fisher_information.json").unlink()
    statuses = {r.step: r.status for r in Workflow(validate_config(config), workflow.base, out).run()}
    assert statuses["fisher_information"] == "ran" and statuses["training"] == "skipped"
    forced = Workflow(validate_config(config), workflow.base, out).run(steps=["setup"], force=True)
    assert [(r.step, r.status) for r in forced] == [("setup", "ran")]
    # the forced setup wrote the same bytes: the steps reading it stay skipped (content digests)
    later = Workflow(validate_config(config), workflow.base, out).run(steps=["events", "report"])
    assert [(r.step, r.status) for r in later] == [("events", "skipped"), ("report", "skipped")]


def test_a_changed_input_file_reruns_its_step(tmp_path, one_torch_thread):
    config = small_config()
    for key in ("sampling", "training", "evaluation", "fisher_information", "limits", "plots", "report"):
        del config[key]
    lhe = tmp_path / "bkg.lhe.gz"
    shutil.copy(DATA / "wbb_bkg_first1000.lhe.gz", lhe)
    config["events"]["samples"][2]["file"] = "bkg.lhe.gz"  # relative to the base folder
    workflow = Workflow(validate_config(config), tmp_path, tmp_path / "results")
    assert [r.status for r in workflow.run()] == ["ran", "ran"]
    shutil.copy(DATA / "wbb_bkg_first1000.lhe.gz", lhe)  # same content: nothing to do
    assert [r.status for r in workflow.run()] == ["skipped", "skipped"]
    shutil.copy(DATA / "wh_smeft_sig_b5_first1000.lhe.gz", lhe)
    assert [r.status for r in workflow.run()] == ["skipped", "ran"]


def test_a_failing_step_leaves_nothing_behind(finished, tmp_path):
    workflow, _ = finished
    config = small_config()
    config["inputs"] = {"events": str(workflow.output / "events.h5")}
    for key in (
        "setup",
        "events",
        "sampling",
        "training",
        "evaluation",
        "fisher_information",
        "plots",
        "report",
    ):
        del config[key]
    config["limits"]["analyses"] = [{"name": "bad", "mode": "histo", "hist_vars": ["no_such_observable"]}]
    failing = Workflow(validate_config(config), tmp_path, tmp_path / "results")
    with pytest.raises(InputError, match="no_such_observable"):
        failing.run()
    assert sorted(p.name for p in failing.output.iterdir()) == []  # no limits files, no staging, no manifest


def test_a_workflow_can_start_from_given_files(finished, tmp_path):
    workflow, _ = finished
    config = {
        "inputs": {"events": str(workflow.output / "events.h5"),
                   "models": {"s": str(workflow.output / "models/sally")}},
        "fisher_information": {"theta": [0, 0], "luminosity": 3e5, "truth": False, "rate": False,
                               "estimators": ["s"]},
    }  # fmt: skip
    results = Workflow(validate_config(config), tmp_path, tmp_path / "results").run()
    assert [(r.step, r.status) for r in results] == [("fisher_information", "ran")]
    ours = json.loads((tmp_path / "results" / "fisher_information.json").read_text())["information"]["s"]
    first = json.loads((workflow.output / "fisher_information.json").read_text())["information"]["sally"]
    np.testing.assert_allclose(ours["matrix"], first["matrix"], rtol=1e-10)


def test_density_and_plain_samples_flows_and_carl(finished, tmp_path):
    """The other sample types and estimator families: a density sample for SCANDAL (a flow, evaluated
    as log p), a plain sample, and CARL on the ratio sample."""
    workflow, _ = finished
    config = {
        "random_state": 4,
        "device": "cpu",
        "inputs": {"events": str(workflow.output / "events.h5")},
        "sampling": {"samples": [
            {"name": "density", "type": "density", "n_samples": 1000,
             "theta": {"random_morphing_points": {"n": 20, "priors": [["flat", -0.5, 0.5]] * 2}}},
            {"name": "plain", "type": "plain", "theta": {"benchmarks": ["sm", "b1"]}, "n_samples": 300},
            {"name": "ratio", "type": "ratio", "n_samples": 1000, "theta0": {"morphing_point": [0.3, 0.0]},
             "theta1": {"benchmark": "sm"}},
        ]},
        "training": [
            {"name": "flow", "method": "scandal", "sample": "density", "n_hidden": [8], "n_epochs": 1,
             "alpha": 0.1},
            {"name": "carl", "method": "carl", "sample": "ratio", "n_hidden": [8], "n_epochs": 1},
        ],
        "evaluation": [{"name": "flow_plain", "estimator": "flow", "sample": "plain",
                        "thetas": [[0, 0], [0.2, 0]]}],
    }  # fmt: skip
    results = Workflow(validate_config(config), tmp_path, tmp_path / "results").run()
    assert [r.status for r in results] == ["ran", "ran", "ran"]
    out = tmp_path / "results"
    assert np.load(out / "samples" / "x_plain.npy").shape == (300, 3)
    with np.load(out / "evaluation" / "flow_plain.npz") as arrays:
        assert arrays["log_p"].shape == (2, 300) and np.all(np.isfinite(arrays["log_p"]))
    assert (out / "models" / "carl_settings.json").exists()
    wrong = dict(config, training=[{"name": "m", "method": "sally", "sample": "density"}])
    with pytest.raises(
        ConfigError, match="method 'sally' needs a 'local' sample, but 'density' is a 'density'"
    ):
        validate_config(wrong)


def test_cuda_without_a_gpu_is_a_clear_error(finished, tmp_path, monkeypatch):
    import torch

    workflow, _ = finished
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = small_config()
    for key in ("setup", "events", "evaluation", "fisher_information", "limits", "plots", "report"):
        del config[key]
    config["inputs"] = {"events": str(workflow.output / "events.h5")}
    config["device"] = "cuda"
    with pytest.raises(InputError, match="device: cuda was asked for, but torch sees no CUDA device"):
        Workflow(validate_config(config), tmp_path, tmp_path / "results").run()
    assert not (tmp_path / "results" / "models").exists()


class _FakeMLflow:
    """Records what the training step sends to MLflow."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def set_tracking_uri(self, uri):
        self.calls.append(("uri", uri))

    def set_experiment(self, name):
        self.calls.append(("experiment", name))

    def start_run(self, run_name=None):
        import contextlib

        self.calls.append(("run", run_name))
        return contextlib.nullcontext()

    def log_params(self, parameters):
        self.calls.append(("params", parameters))

    def log_metric(self, name, value, step=None):
        self.calls.append(("metric", name, value, step))


def test_training_losses_go_to_mlflow_when_asked(finished, tmp_path, monkeypatch):
    workflow, _ = finished
    fake = _FakeMLflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    config = small_config()
    for key in ("setup", "events", "evaluation", "fisher_information", "limits", "plots", "report"):
        del config[key]
    config["inputs"] = {"events": str(workflow.output / "events.h5")}
    config["mlflow"] = {"tracking_uri": "file:///tmp/mlruns", "experiment": "wh"}
    Workflow(validate_config(config), tmp_path, tmp_path / "results").run()
    assert fake.calls[:3] == [("uri", "file:///tmp/mlruns"), ("experiment", "wh"), ("run", "sally")]
    metrics = [c for c in fake.calls if c[0] == "metric"]
    names = {c[1] for c in metrics}
    assert {"train_loss_member_0", "val_loss_member_1", "train_loss", "val_loss"} <= names
    assert [c[3] for c in metrics if c[1] == "train_loss"] == [0, 1]  # alices: 2 epochs
    params = next(c[1] for c in fake.calls if c[0] == "params" and c[1]["name"] == "alices")
    assert params["method"] == "alices" and params["n_epochs"] == 2
    monkeypatch.setitem(sys.modules, "mlflow", None)  # not installed
    with pytest.raises(InputError, match="mlflow is not installed"):
        Workflow(validate_config(config), tmp_path, tmp_path / "other").run()


BAD_CONFIGS = [
    ({"setup": {"parameters": [], "benchmarks": {"sm": {}}}},
     "setup.parameters: List should have at least 1 item"),
    ({"output": "x", "sampling_": {}}, "sampling_: Extra inputs are not permitted"),
    ({"sampling": {"samples": [{"name": "a", "type": "ratio", "n_samples": 10,
                                "theta": {"benchmark": "sm"}}]}},
     "sampling.samples.0: a ratio sample needs theta0 and theta1"),
    ({"sampling": {"samples": [{"name": "a", "type": "local", "n_samples": 10,
                                "theta": {"benchmark": "sm", "morphing_point": [0, 0]}}]}},
     "sampling.samples.0.theta: give exactly one of benchmark"),
    ({"sampling": {"samples": [{"name": "a", "type": "local", "n_samples": 0,
                                "theta": {"benchmark": "sm"}}]}},
     "sampling.samples.0.n_samples: Input should be greater than 0"),
    ({"sampling": {"samples": [{"name": "a", "type": "local", "n_samples": 5, "theta": {"benchmark": "sm"}}]},
      "training": [{"name": "m", "method": "sally", "sample": "b"}]},
     "training 'm': sample 'b' is not among the sampling.samples (['a'])"),
    ({"limits": {"theta_true": [0], "grid_ranges": [[0, 1]], "luminosity": 1,
                 "analyses": [{"name": "a", "mode": "ml"}]}},
     "limits.analyses.0: mode 'ml' needs an estimator"),
    ({"limits": {"theta_true": [0], "grid_ranges": [[0, 1]], "luminosity": 1,
                 "analyses": [{"name": "a", "mode": "sally", "estimator": "nope"}]}},
     "estimator 'nope' is neither trained (training) nor given (inputs.models)"),
    ({"setup": {"parameters": [{"name": "c", "lha_block": "B", "lha_id": 1}],
                "benchmarks": {"sm": {"d": 0}}}},
     "benchmark 'sm' gives values for ['d'], expected the parameters ['c']"),
    ({"device": "gpu"}, "device: Input should be 'auto', 'cpu' or 'cuda'"),
    ({"cluster": {"kind": "address"}}, "cluster: address is needed for kind 'address'"),
    ({"cluster": {"kind": "slurm", "n_workers": 0}}, "cluster.n_workers: Input should be greater than"),
    ({"cluster": {"kind": "kubernetes"}}, "cluster.kind: Input should be 'local', 'address', 'slurm'"),
    ({"training": [{"name": "m", "method": "sally", "sample": "s"}] * 2}, "two models are named 'm'"),
]  # fmt: skip


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS)
def test_bad_configs_name_the_field(config, message):
    with pytest.raises(ConfigError) as error:
        validate_config(config, "workflow.yaml")
    text = str(error.value)
    assert text.startswith("workflow.yaml: 1 problem(s)\n"), text
    assert message in text, text


def test_unreadable_configs(tmp_path):
    with pytest.raises(ConfigError, match=r"missing.yaml: cannot be read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("setup: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list.yaml: expected a mapping of sections"):
        load_config(tmp_path / "list.yaml")
    workflow = Workflow(validate_config({}), tmp_path, tmp_path / "results")
    with pytest.raises(InputError, match="unknown step"):
        workflow.run(steps=["train"])
    with pytest.raises(InputError, match=r"no section for step\(s\) \['limits'\]"):
        workflow.run(steps=["limits"])


def test_the_template_is_a_valid_workflow_of_every_step():
    config = validate_config(yaml.safe_load(template()), "template")
    assert config.steps() == list(STEPS)


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture(autouse=True)
def _restore_logging():
    """The command configures the "motherlode" loggers for its process: put them back for other tests."""
    import logging

    from motherlode.progress import set_progress_bars

    loggers = [logging.getLogger("motherlode")] + [
        logging.getLogger(f"motherlode.{name}") for name in ("analysis", "core", "fisherinformation", "lhe",
                                                              "limits", "ml", "sampling", "selection")
    ]  # fmt: skip
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    yield
    for lg, level, handlers, propagate in saved:
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate = propagate
    set_progress_bars(None)


def test_cli_init_run_and_errors(tmp_path, finished, monkeypatch):
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0 and Path("workflow.yaml").read_text() == template()
    again = runner.invoke(cli, ["init"])
    assert again.exit_code == 2 and "workflow.yaml exists" in again.output
    workflow, _ = finished
    config = {"inputs": {"events": str(workflow.output / "events.h5")},
              "fisher_information": {"theta": [0, 0], "luminosity": 3e5}}  # fmt: skip
    Path("run.yaml").write_text(yaml.safe_dump(config))
    first = runner.invoke(cli, ["--no-progress", "run", "run.yaml"])
    assert first.exit_code == 0, first.output
    assert "fisher_information   ran" in first.output and Path("results/fisher_information.json").exists()
    second = runner.invoke(cli, ["run", "run.yaml", "--output", "results"])
    assert "fisher_information   skipped  unchanged" in second.output
    Path("bad.yaml").write_text(yaml.safe_dump({"limits": {"analyses": []}}))
    bad = runner.invoke(cli, ["run", "bad.yaml"])
    assert bad.exit_code == 2 and "bad.yaml: 4 problem(s)" in bad.output and "Traceback" not in bad.output
    assert "limits.theta_true: Field required" in bad.output
    unknown = runner.invoke(cli, ["run", "run.yaml", "--steps", "limits"])
    assert unknown.exit_code == 2 and "no section for step(s) ['limits']" in unknown.output


def test_python_dash_m_and_the_example_help():
    version = subprocess.run(
        [sys.executable, "-m", "motherlode", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("motherlode, version ")
    result = CliRunner().invoke(cli, ["example", "--help"])
    assert result.exit_code == 0 and "--quick" in result.output and "wh" in result.output
    wrong = CliRunner().invoke(cli, ["example", "nope"])
    assert wrong.exit_code == 2


def test_an_interrupted_workflow_resumes_every_long_step(tmp_path, one_torch_thread, monkeypatch):
    """Interrupted in reading, sampling, training and the limit scan in turn, the workflow run again
    continues each step where it stopped (checkpoints under results/.checkpoints/<step>/, gone when
    the step has succeeded) and gives the same outputs as an uninterrupted run."""
    from motherlode.limits import asymptotic_limits
    from motherlode.ml import ParameterizedRatioEstimator, stacked
    from motherlode.ml.trainer import Trainer
    from motherlode.readers import EventReader
    from motherlode.sampling import sampleaugmenter

    config = small_config()
    for key in ("evaluation", "fisher_information", "plots", "report"):
        del config[key]
    config["limits"]["analyses"] = [{"name": "alices", "mode": "ml", "estimator": "alices"}]
    monkeypatch.setattr(asymptotic_limits, "_ELEMENTS", 25 * 100)  # chunks of 100 Asimov events
    monkeypatch.setattr(asymptotic_limits, "_RECORD_SECONDS", 0.0)

    reference = Workflow(validate_config(config), tmp_path, tmp_path / "reference")
    with monkeypatch.context() as patch:
        chunks = interrupt_after(patch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio")
        reference.run()
    assert chunks[0] > 5

    workflow = Workflow(validate_config(config), tmp_path, tmp_path / "results")
    out = workflow.output
    interruptions = [
        ("events", EventReader, "_analyse_chunk", 1),  # after the first of three files
        ("sampling", sampleaugmenter, "_batch_draw", 2),  # in the second of three samples
        ("training", Trainer, "_train_epoch", 1),
        ("limits", ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio", 3),
    ]
    for step, owner, name, n_calls in interruptions:
        with monkeypatch.context() as patch:
            interrupt_after(patch, owner, name, n_calls)
            files_read = interrupt_after(patch, EventReader, "_analyse_chunk")
            draws = interrupt_after(patch, sampleaugmenter, "_batch_draw")
            stacked_trainings = interrupt_after(patch, stacked, "train_stacked")
            epochs = interrupt_after(patch, Trainer, "_train_epoch")
            with pytest.raises(Interrupt):
                workflow.run()
        assert (out / ".checkpoints" / step).is_dir(), step
        assert not list(out.glob(".staging-*"))
        if step == "sampling":
            assert files_read[0] == 2  # the events step went on after the first of its three files
        if step == "training":  # the sampling step kept the score sample and half of the ratio sample
            assert draws[0] == 2  # the ratio sample's second half, the test sample
        if step == "limits":  # the training step kept the SALLY ensemble, and ALICES's first epoch
            assert (stacked_trainings[0], epochs[0]) == (0, 1)
    with monkeypatch.context() as patch:
        evaluated = interrupt_after(patch, ParameterizedRatioEstimator, "evaluate_log_likelihood_ratio")
        statuses = {r.step: r.status for r in workflow.run()}
    assert statuses == {
        "setup": "skipped", "events": "skipped", "sampling": "skipped", "training": "skipped", "limits": "ran"
    }  # fmt: skip
    assert evaluated[0] == chunks[0] - 3  # the scan went on after its third chunk
    assert not (out / ".checkpoints").exists()
    with h5py.File(out / "events.h5") as resumed, h5py.File(reference.output / "events.h5") as uninterrupted:
        for name in ("observations", "weights", "sampling_benchmarks"):
            np.testing.assert_array_equal(
                resumed[f"samples/{name}"][()], uninterrupted[f"samples/{name}"][()]
            )
    for path in sorted((reference.output / "samples").iterdir()):
        np.testing.assert_array_equal(np.load(out / "samples" / path.name), np.load(path), err_msg=path.name)
    for path in sorted((reference.output / "models").rglob("*.pt")):
        resumed_state = torch.load(out / path.relative_to(reference.output), weights_only=True)
        for key, value in torch.load(path, weights_only=True).items():
            assert torch.equal(resumed_state[key], value), (path.name, key)
    with np.load(out / "limits.npz") as resumed, np.load(reference.output / "limits.npz") as uninterrupted:
        for name in uninterrupted.files:
            np.testing.assert_array_equal(resumed[name], uninterrupted[name], err_msg=name)

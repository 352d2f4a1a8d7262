"""The MadMiner setup API: parameters, benchmarks, morphing, finite differences, systematics, files."""

import os

import numpy as np
import pytest

from motherlode import MadMiner, fileformat
from motherlode.errors import ExpressionError, FileFormatError, InputError, MorphingError, SetupError
from motherlode.models import AnalysisParameter, SystematicScale, SystematicType
from motherlode.morphing import component_weights


def wh_miner() -> MadMiner:
    """The two-parameter SMEFT WH setup of the built-in example (shared/data/wh_smeft)."""
    miner = MadMiner()
    miner.add_parameter("SMEFT", 7, parameter_name="cHW", parameter_range=(-1.0, 1.0))
    miner.add_parameter("SMEFT", 25, parameter_name="cHq3", parameter_range=(-1.0, 1.0))
    for name, (chw, chq3) in {
        "sm": (0, 0),
        "b1": (1, 0),
        "b2": (-1, 0),
        "b3": (0, 1),
        "b4": (0, -1),
        "b5": (1, 1),
    }.items():
        miner.add_benchmark({"cHW": chw, "cHq3": chq3}, name)
    return miner


# ---------------------------------------------------------------------------- parameters


def test_add_parameter_defaults_and_names():
    miner = MadMiner()
    miner.add_parameter("dim6", 2)
    miner.add_parameter("dim6", 5, parameter_name="C PW-L2")
    assert list(miner.parameters) == ["parameter_0", "C_PW_L2"]
    parameter = miner.parameters["parameter_0"]
    assert (parameter.lha_block, parameter.lha_id, parameter.max_power) == ("dim6", 2, 2)
    assert parameter.val_range == (0.0, 1.0)
    assert parameter.transform is None
    assert miner.param_card_value("parameter_0", 0.3) == 0.3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lha_block": 3, "lha_id": 1}, InputError, "lha_block"),
        ({"lha_block": "dim6", "lha_id": 1.5}, InputError, "lha_id"),
        ({"lha_block": "dim6", "lha_id": True}, InputError, "lha_id"),
        ({"lha_block": "dim6", "lha_id": 1, "parameter_range": (1.0, -1.0)}, InputError, "min < max"),
        ({"lha_block": "dim6", "lha_id": 1, "parameter_range": (0.0, float("inf"))}, InputError, "finite"),
        ({"lha_block": "dim6", "lha_id": 1, "parameter_range": 1.0}, InputError, r"\(min, max\)"),
        ({"lha_block": "dim6", "lha_id": 1, "morphing_max_power": -1}, InputError, "morphing_max_power"),
        ({"lha_block": "dim6", "lha_id": 1, "morphing_max_power": 2.5}, InputError, "morphing_max_power"),
        ({"lha_block": "dim6", "lha_id": 1, "param_card_transform": "theta +"}, ExpressionError, "column"),
        ({"lha_block": "dim6", "lha_id": 1, "param_card_transform": "x * 2"}, ExpressionError, "'x'"),
        (
            {"lha_block": "dim6", "lha_id": 1, "param_card_transform": "__import__('os').getcwd()"},
            ExpressionError,
            "__import__",
        ),
    ],
)
def test_add_parameter_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        MadMiner().add_parameter(**kwargs)


def test_duplicate_parameters_are_setup_errors():
    miner = MadMiner()
    miner.add_parameter("dim6", 2, "a")
    with pytest.raises(SetupError, match="'a' exists"):
        miner.add_parameter("dim6", 3, "a")
    with pytest.raises(
        RuntimeError, match="already used by parameter 'a'"
    ):  # MadMiner documents RuntimeError
        miner.add_parameter("DIM6", 2, "b")


def test_param_card_transform_is_evaluated_safely():
    miner = MadMiner()
    miner.add_parameter("dim6", 2, "CWL2", param_card_transform="16.52*theta", parameter_range=(-20.0, 20.0))
    miner.add_parameter("dim6", 5, "sq", param_card_transform="sqrt(abs(theta)) * sign(theta)")
    assert float(miner.param_card_value("CWL2", 0.5)) == pytest.approx(8.26, rel=1e-15)
    np.testing.assert_allclose(miner.param_card_value("sq", np.array([-4.0, 9.0])), [-2.0, 3.0])
    miner.add_benchmark({"CWL2": 1.0, "sq": 0.25}, "bsm")
    assert miner.param_card_entries("bsm") == [("dim6", 2, pytest.approx(16.52)), ("dim6", 5, 0.5)]
    with pytest.raises(SetupError, match="Unknown parameter"):
        miner.param_card_value("nope", 1.0)


def test_max_power_tuples_for_operator_configurations():
    miner = MadMiner()
    miner.add_parameter("a", 1, "production_only", morphing_max_power=(2, 0))
    miner.add_parameter("a", 2, "decay_only", morphing_max_power=(0, 2))
    miner.set_morphing(max_overall_power=(2, 2), random_state=0)
    # union of {1, p, p^2} and {1, d, d^2}: no mixed terms
    assert miner.morpher.components.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [2, 0]]


def test_set_parameters_forms():
    miner = MadMiner()
    miner.set_parameters(
        {"a": ("dim6", 2), "b": ("dim6", 5, 4, -2.0, 2.0), "c": ("dim6", 7, 2, 0.0, 1.0, "2*theta")}
    )
    assert miner.parameters["b"].max_power == 4 and miner.parameters["b"].val_range == (-2.0, 2.0)
    assert float(miner.param_card_value("c", 3.0)) == 6.0
    miner.set_parameters([("dim6", 2), ("dim6", 5)])
    assert list(miner.parameters) == ["parameter_0", "parameter_1"]
    # MadMiner's own record type keeps its transform (MadMiner 0.9.6 dropped it)
    miner.set_parameters({"x": AnalysisParameter("x", "dim6", 2, 2, (0.0, 1.0), "3*theta")})
    assert float(miner.param_card_value("x", 1.0)) == 3.0
    miner.set_parameters(None)
    assert miner.parameters == {}
    with pytest.raises(InputError, match="expected"):
        miner.set_parameters({"a": ("dim6",)})


def test_changing_parameters_resets_benchmarks_and_morphing():
    miner = wh_miner()
    miner.set_morphing(max_overall_power=2, random_state=0)
    miner.add_parameter("SMEFT", 8, "cHB")
    assert miner.benchmarks == {} and miner.morpher is None


# ---------------------------------------------------------------------------- benchmarks


def test_add_benchmark_checks_its_input():
    miner = wh_miner()
    with pytest.raises(SetupError, match="exists already"):
        miner.add_benchmark({"cHW": 0.5, "cHq3": 0.5}, "sm")
    with pytest.raises(SetupError, match="unknown parameters \\['cHB'\\]"):
        miner.add_benchmark({"cHW": 0.5, "cHq3": 0.5, "cHB": 1.0})
    with pytest.raises(SetupError, match="no value for parameters \\['cHq3'\\]"):
        miner.add_benchmark({"cHW": 0.5})
    with pytest.raises(SetupError, match="must be a dict"):
        miner.add_benchmark([0.5, 0.5])
    with pytest.raises(InputError, match="real number"):
        miner.add_benchmark({"cHW": "x", "cHq3": 0.5})
    with pytest.raises(SetupError, match="before benchmarks"):
        MadMiner().add_benchmark({})


def test_benchmark_values_follow_parameter_order():
    miner = wh_miner()
    miner.add_benchmark({"cHq3": 0.2, "cHW": 0.7}, "swapped")
    assert list(miner.benchmarks["swapped"].values.items()) == [("cHW", 0.7), ("cHq3", 0.2)]
    miner.add_benchmark({"cHW": 0.1, "cHq3": 0.1})
    assert list(miner.benchmarks)[-1] == "benchmark_7"
    assert miner.default_benchmark == "sm"


def test_set_benchmarks_forms():
    miner = wh_miner()
    miner.set_benchmarks({"x": {"cHW": 1, "cHq3": 2}})
    assert list(miner.benchmarks) == ["x"]
    miner.set_benchmarks([{"cHW": 1, "cHq3": 2}, {"cHW": 3, "cHq3": 4}])
    assert list(miner.benchmarks) == ["benchmark_0", "benchmark_1"]
    miner.set_benchmarks(None)
    assert miner.benchmarks == {} and miner.default_benchmark is None


def test_adding_a_benchmark_after_morphing_keeps_the_basis(tmp_path):
    """MadMiner 0.9.6 (and its tutorial A3, which adds a forgotten point to reweight an existing sample
    to) keeps the morphing setup; the new benchmark lies outside the basis, in memory and in the file."""
    miner = wh_miner()
    miner.set_morphing(max_overall_power=2)
    basis = list(miner.benchmarks)
    matrix = miner.morpher.morphing_matrix.copy()
    miner.add_benchmark({"cHW": 0.5, "cHq3": 0.5}, "chk")
    assert list(miner.benchmarks) == [*basis, "chk"]
    np.testing.assert_array_equal(miner.morpher.morphing_matrix, matrix)
    miner.save(tmp_path / "setup.h5")
    loaded = MadMiner()
    loaded.load(tmp_path / "setup.h5")
    assert list(loaded.benchmarks) == [*basis, "chk"]
    np.testing.assert_array_equal(loaded.morpher.morphing_matrix, matrix)
    np.testing.assert_array_equal(loaded.morpher.basis, miner.morpher.basis)


# ---------------------------------------------------------------------------- morphing


def test_wh_basis_reproduces_the_documented_weights():
    """shared/data/wh_smeft/README.md: omega(0.5, 0.5) = (0.75, 0.125, -0.125, 0.125, -0.125, 0.25)."""
    miner = wh_miner()
    miner.set_morphing(max_overall_power=2, include_existing_benchmarks=True)
    assert list(miner.benchmarks) == ["sm", "b1", "b2", "b3", "b4", "b5"]  # nothing to add
    weights = miner.morpher.calculate_morphing_weights(np.array([0.5, 0.5]))
    np.testing.assert_allclose(weights, [0.75, 0.125, -0.125, 0.125, -0.125, 0.25], atol=1e-14)
    assert miner.morpher.condition_number < 10


def test_morphing_completes_the_basis_after_existing_benchmarks():
    miner = MadMiner()
    miner.add_parameter("dim6", 2, "CWL2", param_card_transform="16.52*theta", parameter_range=(-20.0, 20.0))
    miner.add_parameter("dim6", 5, "CPWL2", param_card_transform="16.52*theta", parameter_range=(-20.0, 20.0))
    miner.add_benchmark({"CWL2": 0.0, "CPWL2": 0.0}, "sm")
    miner.add_benchmark({"CWL2": 15.2, "CPWL2": 0.1}, "w")
    miner.set_morphing(max_overall_power=2, n_trials=50, random_state=7)
    names = list(miner.benchmarks)
    assert names[:2] == ["sm", "w"]
    assert names[2:] == [f"morphing_basis_vector_{i}" for i in range(2, 6)]
    for name in names[2:]:
        assert all(-20.0 <= v <= 20.0 for v in miner.benchmarks[name].values.values())
    np.testing.assert_array_equal(miner.morpher.basis[:2], [[0.0, 0.0], [15.2, 0.1]])


def test_morphing_is_reproducible_with_a_seed():
    def basis(seed):
        miner = wh_miner()
        miner.set_benchmarks({"sm": {"cHW": 0, "cHq3": 0}})
        miner.set_morphing(max_overall_power=2, random_state=seed)
        return miner.morpher.basis

    np.testing.assert_array_equal(basis(1), basis(1))
    assert not np.array_equal(basis(1), basis(2))


def test_morphing_without_existing_benchmarks_in_the_basis():
    miner = wh_miner()
    miner.set_morphing(max_overall_power=2, include_existing_benchmarks=False, random_state=0)
    names = list(miner.benchmarks)
    assert names[:6] == [f"morphing_basis_vector_{i}" for i in range(6)]
    assert names[6:] == ["sm", "b1", "b2", "b3", "b4", "b5"]
    assert miner.morpher.morphing_matrix.shape == (6, 6)


def test_more_benchmarks_than_components_give_an_overcomplete_basis():
    miner = wh_miner()
    miner.add_benchmark({"cHW": 0.5, "cHq3": -0.5}, "extra")
    miner.set_morphing(max_overall_power=2)
    morpher = miner.morpher
    assert morpher.morphing_matrix.shape == (6, 7)
    theta = np.array([0.3, -0.7])
    weights = morpher.calculate_morphing_weights(theta)
    # every monomial of the declared structure is reproduced exactly from the seven benchmarks
    np.testing.assert_allclose(
        weights @ component_weights(morpher.basis, morpher.components),
        component_weights(theta, morpher.components),
        rtol=1e-12,
    )
    square = np.linalg.inv(component_weights(morpher.basis[:6], morpher.components)).T @ component_weights(
        theta, morpher.components
    )
    assert np.sum(weights**2) < np.sum(square**2)


def test_n_bases_two():
    miner = wh_miner()
    miner.set_benchmarks({"sm": {"cHW": 0, "cHq3": 0}})
    miner.set_morphing(max_overall_power=2, n_bases=2, random_state=0)
    assert len(miner.benchmarks) == 12
    assert miner.morpher.morphing_matrix.shape == (6, 12)


def test_degenerate_existing_benchmarks_raise():
    miner = MadMiner()
    miner.add_parameter("a", 1, "x", parameter_range=(-1.0, 1.0))
    for i, value in enumerate([0.0, 0.0, 0.0]):
        miner.add_benchmark({"x": value}, f"b{i}")
    with pytest.raises(MorphingError, match="singular"):
        miner.set_morphing(max_overall_power=2)


def test_set_benchmarks_from_morphing_alias():
    miner = wh_miner()
    miner.set_benchmarks({"sm": {"cHW": 0, "cHq3": 0}})
    miner.set_benchmarks_from_morphing(max_overall_power=2, keep_existing_benchmarks=False, random_state=0)
    assert list(miner.benchmarks)[-1] == "sm"


def test_set_morphing_needs_parameters():
    with pytest.raises(SetupError, match="add_parameter"):
        MadMiner().set_morphing()


# ---------------------------------------------------------------------------- finite differences


def test_finite_differences():
    miner = wh_miner()
    miner.set_benchmarks({"sm": {"cHW": 0, "cHq3": 0}, "bsm": {"cHW": 1.5, "cHq3": -2.0}})
    miner.finite_differences(epsilon=0.02)
    assert list(miner.benchmarks) == [
        "sm", "bsm", "sm_plus_cHW", "sm_plus_cHq3", "bsm_plus_cHW", "bsm_plus_cHq3",
    ]  # fmt: skip
    assert miner.benchmarks["bsm_plus_cHq3"].values == {"cHW": 1.5, "cHq3": -1.98}
    assert miner.finite_difference_benchmarks["bsm"].shift_names == {
        "cHW": "bsm_plus_cHW",
        "cHq3": "bsm_plus_cHq3",
    }
    miner.finite_differences(epsilon=0.1)  # replaces, does not stack
    assert len(miner.benchmarks) == 6
    assert miner.benchmarks["sm_plus_cHW"].values["cHW"] == 0.1
    with pytest.raises(InputError, match="non-zero"):
        miner.finite_differences(0.0)


# ---------------------------------------------------------------------------- systematics


def test_add_systematics():
    miner = wh_miner()
    miner.add_systematics("norm")
    miner.add_systematics("norm", norm_variation=0.9)
    miner.add_systematics("scale", "renormalisation scale", scale="mur", scale_variations=(0.5, 2))
    miner.add_systematics("pdf", pdf_variation="NNPDF31_nnlo_as_0118")
    assert list(miner.systematics) == ["norm_0", "norm_1", "renormalisation_scale", "pdf_0"]
    scale = miner.systematics["renormalisation_scale"]
    assert (scale.type, scale.value, scale.scale) == (SystematicType.SCALE, "0.5,2.0", SystematicScale.MUR)
    assert scale.scale_factors == (0.5, 2.0)
    assert miner.systematics["norm_1"].value == 0.9
    miner.reset_systematics()
    assert miner.systematics == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"effect": "lumi"}, "Invalid systematic type 'lumi'"),
        ({"effect": "scale", "scale": "mux"}, "Invalid systematic scale 'mux'"),
        ({"effect": "scale", "scale_variations": (0.5, -1.0)}, "positive"),
        ({"effect": "scale", "scale_variations": ()}, "no scale factors"),
        ({"effect": "norm", "norm_variation": 0.0}, "positive"),
        ({"effect": "pdf", "pdf_variation": ""}, "LHAPDF"),
    ],
)
def test_add_systematics_rejects_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        wh_miner().add_systematics(**kwargs)


def test_duplicate_systematic():
    miner = wh_miner()
    miner.add_systematics("norm", "lumi")
    with pytest.raises(SetupError, match="'lumi' exists"):
        miner.add_systematics("pdf", "lumi")


# ---------------------------------------------------------------------------- save and load


def full_miner() -> MadMiner:
    miner = wh_miner()
    miner.parameters["cHW"].transform = None
    miner.add_parameter("SMEFT", 9, "cHB", param_card_transform="2*theta", parameter_range=(-3.0, 3.0))
    miner.add_benchmark({"cHW": 0, "cHq3": 0, "cHB": 0}, "sm")
    miner.set_morphing(max_overall_power=2, random_state=0)
    miner.add_systematics("norm", norm_variation=1.05)
    miner.add_systematics("scale", scale="muf")
    miner.add_systematics("pdf")
    return miner


def test_save_and_load_round_trip(tmp_path):
    miner = full_miner()
    miner.save(tmp_path / "setup.h5")
    loaded = MadMiner()
    loaded.load(tmp_path / "setup.h5")
    assert loaded.parameters == miner.parameters
    assert loaded.benchmarks == miner.benchmarks
    assert loaded.systematics == miner.systematics
    assert loaded.default_benchmark == "sm"
    np.testing.assert_array_equal(loaded.morpher.morphing_matrix, miner.morpher.morphing_matrix)
    thetas = np.random.default_rng(0).uniform(-1, 1, size=(20, 3))
    np.testing.assert_array_equal(
        loaded.morpher.calculate_morphing_weights(thetas), miner.morpher.calculate_morphing_weights(thetas)
    )
    assert float(loaded.param_card_value("cHB", 1.5)) == 3.0
    without = MadMiner()
    without.load(tmp_path / "setup.h5", disable_morphing=True)
    assert without.morpher is None and len(without.benchmarks) == len(miner.benchmarks)


def test_finite_differences_survive_save_and_load(tmp_path):
    miner = wh_miner()
    miner.finite_differences()
    miner.save(tmp_path / "setup.h5")
    loaded = MadMiner()
    loaded.load(tmp_path / "setup.h5")
    assert loaded.finite_difference_benchmarks == miner.finite_difference_benchmarks
    assert loaded.finite_difference_epsilon == 0.01


def test_save_replaces_and_failed_save_leaves_no_trace(tmp_path, monkeypatch):
    target = tmp_path / "setup.h5"
    wh_miner().save(target)
    before = target.read_bytes()

    def broken(handle, setup):
        handle.create_group("parameters")
        raise OSError("simulated I/O failure")

    monkeypatch.setattr(fileformat, "write_setup", broken)
    with pytest.raises(OSError, match="simulated"):
        full_miner().save(target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["setup.h5"]


def test_save_errors(tmp_path):
    with pytest.raises(SetupError, match="no parameters"):
        MadMiner().save(tmp_path / "setup.h5")
    (tmp_path / "blocker").write_text("")
    with pytest.raises(FileFormatError, match="blocker"):
        wh_miner().save(tmp_path / "blocker" / "setup.h5")
    assert sorted(os.listdir(tmp_path)) == ["blocker"]


def test_load_errors(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        MadMiner().load(tmp_path / "nothing.h5")
    (tmp_path / "cards.dat").write_text("Block SMEFT\n")
    with pytest.raises(FileFormatError, match=r"cards\.dat: not a readable HDF5 file"):
        MadMiner().load(tmp_path / "cards.dat")


def test_repr():
    assert repr(full_miner()) == "<MadMiner: 3 parameters, 10 benchmarks, 10 components, 3 systematics>"

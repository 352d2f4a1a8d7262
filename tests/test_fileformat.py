"""The HDF5 file format: layout, round trips, strings, errors, atomic writes and streaming."""

import logging
import os
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from motherlode import fileformat
from motherlode.errors import FileFormatError
from motherlode.models import (
    AnalysisParameter,
    Benchmark,
    FiniteDiffBenchmark,
    NuisanceParameter,
    Systematic,
)


def full_setup() -> fileformat.SetupData:
    parameters = {
        "cHW": AnalysisParameter("cHW", "SMEFT", 7, 2, (-1.0, 1.0), None),
        "cHq3": AnalysisParameter("cHq3", "SMEFT", 25, (2, 4), (-2.0, 0.5), "0.5*theta + 1"),
    }
    benchmarks = {
        "sm": Benchmark("sm", {"cHW": 0.0, "cHq3": 0.0}, is_reference=True),
        "b1": Benchmark("b1", {"cHW": 1.0, "cHq3": 0.0}),
        "b1_plus_cHW": Benchmark("b1_plus_cHW", {"cHW": 1.01, "cHq3": 0.0}),
        "b1_plus_cHq3": Benchmark("b1_plus_cHq3", {"cHW": 1.0, "cHq3": 0.01}),
        "scale_benchmark_0": Benchmark("scale_benchmark_0", {"cHW": 0.0, "cHq3": 0.0}, is_nuisance=True),
        "scale_benchmark_1": Benchmark("scale_benchmark_1", {"cHW": 0.0, "cHq3": 0.0}, is_nuisance=True),
    }
    return fileformat.SetupData(
        parameters=parameters,
        benchmarks=benchmarks,
        morphing_components=np.array([[0, 0], [1, 0], [0, 1]]),
        morphing_matrix=np.arange(9.0).reshape(3, 3) / 7,
        systematics={
            "norm_0": Systematic("norm_0", "norm", 1.1),
            "scale": Systematic("scale", "scale", "0.5,1.0,2.0", "mur"),
            "pdf": Systematic("pdf", "pdf", "NNPDF31_nnlo_as_0118"),
        },
        finite_differences={"b1": FiniteDiffBenchmark("b1", {"cHW": "b1_plus_cHW", "cHq3": "b1_plus_cHq3"})},
        finite_difference_epsilon=0.01,
        nuisance_parameters={
            "scale_nuisance_param_0": NuisanceParameter(
                "scale_nuisance_param_0", "scale", "scale_benchmark_0", "scale_benchmark_1"
            ),
            "norm_nuisance_param_0": NuisanceParameter("norm_nuisance_param_0", "norm_0", "sm", None),
        },
    )


def test_setup_round_trip(tmp_path):
    setup = full_setup()
    fileformat.save_setup(tmp_path / "setup.h5", setup)
    loaded = fileformat.read_setup(tmp_path / "setup.h5")
    assert loaded.parameters == setup.parameters
    assert loaded.benchmarks == setup.benchmarks
    assert list(loaded.benchmarks) == list(setup.benchmarks)
    np.testing.assert_array_equal(loaded.morphing_components, setup.morphing_components)
    np.testing.assert_array_equal(loaded.morphing_matrix, setup.morphing_matrix)
    assert loaded.systematics == setup.systematics
    assert loaded.finite_differences == setup.finite_differences
    assert loaded.finite_difference_epsilon == 0.01
    assert loaded.nuisance_parameters == setup.nuisance_parameters
    assert loaded.reference_benchmark == "sm"
    assert loaded.format_version == fileformat.FORMAT_VERSION
    without_nuisance = fileformat.read_setup(tmp_path / "setup.h5", include_nuisance_benchmarks=False)
    assert "scale_benchmark_0" not in without_nuisance.benchmarks


# Anatomy section 2.2: every dataset with its shape and dtype (P=2, B=6, C=3, S=3, K=2, F=1).
EXPECTED_LAYOUT = {
    "parameters/names": ((2,), "S"),
    "parameters/lha_blocks": ((2,), "S"),
    "parameters/lha_ids": ((2,), "int64"),
    "parameters/max_power": ((2,), "int64"),
    "parameters/val_ranges": ((2, 2), "float64"),
    "parameters/transforms": ((2,), "S"),
    "parameters/max_power_configurations": ((2, 2), "int64"),  # motherlode addition (tuple powers)
    "benchmarks/names": ((6,), "S"),
    "benchmarks/values": ((6, 2), "float64"),
    "benchmarks/is_nuisance": ((6,), "int64"),
    "benchmarks/is_reference": ((6,), "int64"),
    "morphing/components": ((3, 2), "int64"),
    "morphing/morphing_matrix": ((3, 3), "float64"),
    "finite_differences/base_benchmarks": ((1,), "S"),
    "finite_differences/shifted_benchmarks": ((1, 2), "S"),
    "finite_differences/epsilon": ((), "float64"),
    "systematics/names": ((3,), "S"),
    "systematics/types": ((3,), "S"),
    "systematics/values": ((3,), "S"),
    "systematics/scales": ((3,), "S"),
    "nuisance_parameters/names": ((2,), "S"),
    "nuisance_parameters/systematics": ((2,), "S"),
    "nuisance_parameters/benchmark_positive": ((2,), "S"),
    "nuisance_parameters/benchmark_negative": ((2,), "S"),
}


def test_layout_matches_madminer(tmp_path):
    fileformat.save_setup(tmp_path / "setup.h5", full_setup())
    found = []

    def collect(name, obj):
        if isinstance(obj, h5py.Dataset):
            found.append(name)

    with h5py.File(tmp_path / "setup.h5", "r") as handle:
        handle.visititems(collect)
        for name, (shape, dtype) in EXPECTED_LAYOUT.items():
            dataset = handle[name]
            assert dataset.shape == shape, name
            if dtype == "S":
                assert dataset.dtype.kind == "S" and dataset.dtype.itemsize >= 256, name
            else:
                assert dataset.dtype == np.dtype(dtype), name
        assert sorted(found) == sorted(EXPECTED_LAYOUT)
        assert handle["benchmarks/is_nuisance"][()].tolist() == [0, 0, 0, 0, 1, 1]
        assert handle["benchmarks/is_reference"][()].tolist() == [1, 0, 0, 0, 0, 0]
        assert handle["parameters/max_power"][()].tolist() == [2, 4]
        assert handle["parameters/transforms"][()].tolist() == [b"theta", b"0.5*theta + 1"]
        assert handle["systematics/scales"][()].tolist() == [b"None", b"mur", b"None"]
        assert handle["systematics/values"][()].tolist() == [b"1.1", b"0.5,1.0,2.0", b"NNPDF31_nnlo_as_0118"]
        assert handle["nuisance_parameters/benchmark_negative"][()].tolist() == [
            b"scale_benchmark_1",
            b"None",
        ]
        assert handle.attrs["motherlode_format_version"] == fileformat.FORMAT_VERSION


def test_benchmark_values_are_written_in_parameter_order(tmp_path):
    setup = full_setup()
    setup.benchmarks["b1"] = Benchmark("b1", {"cHq3": 0.25, "cHW": 1.0})  # dict order differs
    fileformat.save_setup(tmp_path / "setup.h5", setup)
    with h5py.File(tmp_path / "setup.h5", "r") as handle:
        assert handle["benchmarks/values"][1].tolist() == [1.0, 0.25]
    setup.benchmarks["b1"] = Benchmark("b1", {"cHW": 1.0})
    with pytest.raises(FileFormatError, match=r"'b1' has no value for \['cHq3'\]"):
        fileformat.save_setup(tmp_path / "other.h5", setup)


def test_long_strings_are_stored_whole(tmp_path):
    setup = full_setup()
    long_transform = " + ".join(f"{i}*theta" for i in range(200))  # about 1500 characters
    setup.parameters["cHW"].transform = long_transform
    fileformat.save_setup(tmp_path / "setup.h5", setup)
    with h5py.File(tmp_path / "setup.h5", "r") as handle:
        assert handle["parameters/transforms"].dtype.itemsize >= len(long_transform)
    assert fileformat.read_setup(tmp_path / "setup.h5").parameters["cHW"].transform == long_transform


def test_non_ascii_strings_are_kept_with_a_warning(tmp_path, caplog):
    setup = full_setup()
    setup.parameters["cHq3"].lha_block = "SMEFT_µ"
    with caplog.at_level(logging.WARNING, logger="motherlode.fileformat"):
        fileformat.save_setup(tmp_path / "setup.h5", setup)
    assert "not ASCII" in caplog.text
    assert fileformat.read_setup(tmp_path / "setup.h5").parameters["cHq3"].lha_block == "SMEFT_µ"


def write_minimal_madminer_like(path, **overrides):
    """A file with MadMiner 0.9 conventions: S256 strings, '_' transform, int ranges, no flags."""
    datasets = {
        "parameters/names": np.array([b"theta0"], dtype="S256"),
        "parameters/lha_blocks": np.array([b"dim6"], dtype="S256"),
        "parameters/lha_ids": np.array([2]),
        "parameters/max_power": np.array([2]),
        "parameters/val_ranges": np.array([[-1, 1]]),
        "parameters/transforms": np.array([b"_"], dtype="S256"),
        "benchmarks/names": np.array([b"sm", b"bsm"], dtype="S256"),
        "benchmarks/values": np.array([[0.0], [1.0]]),
    }
    datasets.update(overrides)
    with h5py.File(path, "w") as handle:
        for name, data in datasets.items():
            if data is not None:
                handle.create_dataset(name, data=data)


def test_reads_madminer_conventions(tmp_path):
    write_minimal_madminer_like(tmp_path / "mm.h5")
    setup = fileformat.read_setup(tmp_path / "mm.h5")
    parameter = setup.parameters["theta0"]
    assert parameter.transform is None
    assert parameter.val_range == (-1.0, 1.0) and isinstance(parameter.val_range[0], float)
    assert [b.is_nuisance for b in setup.benchmarks.values()] == [False, False]
    assert setup.reference_benchmark is None
    assert setup.format_version is None
    assert not setup.has_morphing


def test_reads_madminer_08_range_name(tmp_path):
    write_minimal_madminer_like(
        tmp_path / "old.h5", **{"parameters/val_ranges": None, "parameters/ranges": np.array([[0.0, 2.0]])}
    )
    assert fileformat.read_setup(tmp_path / "old.h5").parameters["theta0"].val_range == (0.0, 2.0)


def test_missing_file_and_wrong_files(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        fileformat.read_setup(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FileFormatError, match=r"text\.h5: not a readable HDF5 file"):
        fileformat.read_setup(tmp_path / "text.h5")
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(FileFormatError, match=r"empty\.h5: not a MadMiner setup file.*'parameters/names'"):
        fileformat.read_setup(tmp_path / "empty.h5")
    with pytest.raises(
        OSError, match="parameters/names"
    ):  # FileFormatError is an OSError, like MadMiner's IOError
        fileformat.read_setup(tmp_path / "empty.h5")


def test_newer_format_version_is_refused(tmp_path):
    fileformat.save_setup(tmp_path / "setup.h5", full_setup())
    with h5py.File(tmp_path / "setup.h5", "a") as handle:
        handle.attrs["motherlode_format_version"] = fileformat.FORMAT_VERSION + 1
    with pytest.raises(FileFormatError, match="upgrade motherlode"):
        fileformat.read_setup(tmp_path / "setup.h5")


def directory_listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "setup.h5"
    fileformat.save_setup(target, full_setup())
    before = target.read_bytes()

    def fail_midway(handle):
        handle.create_dataset("parameters/names", data=np.array([b"x"]))
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"), fileformat.atomic_h5(target) as handle:
        fail_midway(handle)
    assert target.read_bytes() == before
    assert directory_listing(tmp_path) == ["setup.h5"]


def test_failed_first_write_leaves_nothing(tmp_path):
    setup = full_setup()
    setup.parameters["cHW"].name = b"bytes are not names"  # type: ignore[assignment]
    with pytest.raises(FileFormatError, match="parameters/names"):
        fileformat.save_setup(tmp_path / "setup.h5", setup)
    assert directory_listing(tmp_path) == []


def test_unwritable_path_names_the_file(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(FileFormatError, match="a_file"):
        fileformat.save_setup(tmp_path / "a_file" / "setup.h5", full_setup())
    (tmp_path / "a_dir.h5").mkdir()
    with pytest.raises(FileFormatError, match="is a directory"):
        fileformat.save_setup(tmp_path / "a_dir.h5", full_setup())


def test_written_file_has_normal_permissions(tmp_path):
    fileformat.save_setup(tmp_path / "setup.h5", full_setup())
    mode = (tmp_path / "setup.h5").stat().st_mode & 0o777
    assert mode == 0o666 & ~fileformat._current_umask()


def test_copy_from_keeps_other_groups(tmp_path):
    fileformat.save_setup(tmp_path / "setup.h5", full_setup())
    with fileformat.atomic_h5(tmp_path / "events.h5", copy_from=tmp_path / "setup.h5") as handle:
        fileformat.write_observables(handle, ["pt", "custom"], ["l[0].pt", None])
    assert fileformat.read_observables(tmp_path / "events.h5") == {"pt": "l[0].pt", "custom": None}
    assert fileformat.read_setup(tmp_path / "events.h5").parameters == full_setup().parameters
    assert fileformat.read_observables(tmp_path / "setup.h5") == {}


def write_events(path, n_events, n_observables=4, n_benchmarks=6, batch=50_000, seed=0):
    rng = np.random.default_rng(seed)
    observations = rng.normal(size=(n_events, n_observables))
    weights = rng.uniform(size=(n_events, n_benchmarks))
    sampling = rng.integers(-1, 3, size=n_events)
    with fileformat.atomic_h5(path) as handle:
        fileformat.create_sample_datasets(handle, n_observables, n_benchmarks)
        for start in range(0, n_events, batch):
            stop = start + batch
            fileformat.append_samples(
                handle, observations[start:stop], weights[start:stop], sampling[start:stop]
            )
        fileformat.write_sample_summary(handle, [10, 20, 30], 5)
    return observations, weights, sampling


def test_events_append_and_stream(tmp_path):
    observations, weights, sampling = write_events(tmp_path / "events.h5", 12_345, batch=1000)
    assert fileformat.n_samples(tmp_path / "events.h5") == 12_345
    batches = list(fileformat.iter_samples(tmp_path / "events.h5", batch_size=5000))
    assert [len(b[0]) for b in batches] == [5000, 5000, 2345]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), observations)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), weights)
    np.testing.assert_array_equal(np.concatenate([b[2] for b in batches]), sampling)
    part = list(fileformat.iter_samples(tmp_path / "events.h5", start=100, stop=250, batch_size=100))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in part]), weights[100:250])
    weights_only = list(
        fileformat.iter_samples(tmp_path / "events.h5", 100, 250, 100, read_observations=False)
    )
    assert [b[0].shape for b in weights_only] == [(100, 0), (50, 0)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in weights_only]), weights[100:250])
    np.testing.assert_array_equal(np.concatenate([b[2] for b in weights_only]), sampling[100:250])
    summary = fileformat.read_sample_summary(tmp_path / "events.h5")
    assert summary.signal_events.tolist() == [10, 20, 30] and summary.background_events == 5


def test_event_datasets_are_chunked_and_compressed(tmp_path):
    write_events(tmp_path / "events.h5", 1000)
    with h5py.File(tmp_path / "events.h5", "r") as handle:
        for name in ("observations", "weights", "sampling_benchmarks"):
            dataset = handle["samples"][name]
            assert dataset.chunks is not None, name
            assert dataset.compression == "gzip", name
            assert dataset.maxshape[0] is None, name
        assert handle["samples/weights"].dtype == np.float64
        assert handle["samples/sampling_benchmarks"].dtype == np.int64


def test_streaming_memory_is_bounded(tmp_path):
    n_events, n_columns = 400_000, 10  # 32 MB per dataset
    path = tmp_path / "events.h5"
    rng = np.random.default_rng(1)
    with fileformat.atomic_h5(path) as handle:
        fileformat.create_sample_datasets(handle, n_columns, n_columns)
        for _ in range(8):
            block = rng.normal(size=(n_events // 8, n_columns))
            fileformat.append_samples(handle, block, block, np.zeros(len(block), dtype=int))
    tracemalloc.start()
    total = 0.0
    for _, weights, _ in fileformat.iter_samples(path, batch_size=10_000):
        total += weights.sum()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert np.isfinite(total)
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB while streaming a 64 MB file"


def test_append_checks_shapes(tmp_path):
    with (
        pytest.raises(FileFormatError, match="rows of shape"),
        fileformat.atomic_h5(tmp_path / "e.h5") as handle,
    ):
        fileformat.create_sample_datasets(handle, 3, 2)
        fileformat.append_samples(handle, np.zeros((4, 2)), np.zeros((4, 2)), np.zeros(4))
    with (
        pytest.raises(FileFormatError, match="must be equal"),
        fileformat.atomic_h5(tmp_path / "e.h5") as handle,
    ):
        fileformat.create_sample_datasets(handle, 3, 2)
        fileformat.append_samples(handle, np.zeros((4, 3)), np.zeros((3, 2)), np.zeros(4))
    assert not (tmp_path / "e.h5").exists()


def test_streaming_a_file_without_events_is_an_error(tmp_path):
    fileformat.save_setup(tmp_path / "setup.h5", full_setup())
    with pytest.raises(FileFormatError, match="has no events"):
        next(fileformat.iter_samples(tmp_path / "setup.h5"))
    assert fileformat.n_samples(tmp_path / "setup.h5") == 0
    assert fileformat.read_sample_summary(tmp_path / "setup.h5") is None


def test_nuisance_setup_is_added_to_a_copy(tmp_path):
    setup = full_setup()
    setup.nuisance_parameters = {}
    setup.benchmarks = {n: b for n, b in setup.benchmarks.items() if not b.is_nuisance}
    fileformat.save_setup(tmp_path / "setup.h5", setup)
    benchmarks = dict(setup.benchmarks)
    benchmarks["norm_benchmark_0"] = Benchmark(
        "norm_benchmark_0", {"cHW": 0.0, "cHq3": 0.0}, is_nuisance=True
    )
    nuisance = {
        "norm_nuisance_param_0": NuisanceParameter("norm_nuisance_param_0", "norm_0", "norm_benchmark_0")
    }
    with fileformat.atomic_h5(tmp_path / "events.h5", copy_from=tmp_path / "setup.h5") as handle:
        fileformat.write_nuisance_setup(handle, benchmarks, nuisance, list(setup.parameters))
    loaded = fileformat.read_setup(tmp_path / "events.h5")
    assert loaded.benchmarks == benchmarks
    assert loaded.nuisance_parameters == nuisance
    assert fileformat.read_setup(tmp_path / "setup.h5").nuisance_parameters == {}

"""motherlode.utils.various: MadMiner 0.9.6's helpers under its path.

Expected values marked "MadMiner 0.9.6" were computed by ``madminer.utils.various`` in its own
environment on the same inputs and are hard-coded here; the others follow from an independent
formula. MadMiner's bugs that motherlode fixes are tested as such (see docs/differences.md).
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from motherlode.errors import ExternalCommandError, FileFormatError, InputError
from motherlode.expressions import CONSTANTS, MATH_FUNCTIONS
from motherlode.utils.various import (
    approx_equal,
    balance_thetas,
    call_command,
    copy_file,
    less_logging,
    load_and_check,
    make_file_executable,
    math_commands,
    mdot,
    restrict_samplesize,
    sanitize_array,
    separate_information_blocks,
    shuffle,
    unzip_file,
    weighted_quantile,
)

LHE_GZ = Path(__file__).parent / "data" / "lhe" / "pylhe-testfile-whizard-3.1.4-eeWW.lhe.gz"

VALUES = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
WEIGHTS = np.array([0.5, 2.0, 1.0, 0.0, 3.0, 1.5])
QUANTILES = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


# ----------------------------------------------------------------------------------------------
# weighted_quantile
# ----------------------------------------------------------------------------------------------


def test_weighted_quantile_matches_madminer():
    # MadMiner 0.9.6
    np.testing.assert_allclose(
        weighted_quantile(VALUES, QUANTILES, WEIGHTS), [1.0, 1.0, 1.5, 3.3333333333333335, 7.75, 9.0, 9.0]
    )
    np.testing.assert_allclose(
        weighted_quantile(VALUES, QUANTILES, WEIGHTS, old_style=True),
        [1.0, 1.275, 2.05, 3.0, 5.5625, 7.625, 9.0],
    )
    np.testing.assert_allclose(
        weighted_quantile(VALUES, QUANTILES), [1.0, 1.05, 1.5, 2.8, 4.0, 8.500000000000002, 9.0]
    )
    assert weighted_quantile(VALUES, 0.5, WEIGHTS) == pytest.approx(3.3333333333333335)
    assert np.ndim(weighted_quantile(VALUES, 0.5, WEIGHTS)) == 0
    assert weighted_quantile(np.sort(VALUES), 0.3, values_sorted=True) == pytest.approx(1.83)


def test_weighted_quantile_old_style_is_numpy_percentile():
    np.testing.assert_allclose(
        weighted_quantile(VALUES, QUANTILES, old_style=True), np.percentile(VALUES, np.array(QUANTILES) * 100)
    )
    # a single value (MadMiner 0.9.6: 5.0 everywhere)
    np.testing.assert_array_equal(weighted_quantile([5.0], QUANTILES, old_style=True), [5.0] * 7)
    np.testing.assert_array_equal(weighted_quantile([5.0], QUANTILES), [5.0] * 7)


@pytest.mark.parametrize("weights", [np.zeros(6), [1.0, -1.0, 0.0, 0.0, 0.0, 0.0], [np.nan] * 6])
def test_weighted_quantile_needs_a_positive_total(weights):
    # MadMiner 0.9.6 divides by the zero total: NaN (all zeros) or a meaningless number
    with pytest.raises(InputError, match="sample_weight sums to"):
        weighted_quantile(VALUES, QUANTILES, weights)


def test_weighted_quantile_negative_weights_first_crossing():
    values = [1.0, 2.0, 3.0, 4.0]
    # monotonic cumulative weights despite a negative weight: as MadMiner 0.9.6
    np.testing.assert_allclose(
        weighted_quantile(values, QUANTILES, [1.0, 2.0, -1.0, 2.0]), [1, 1, 4 / 3, 2, 4, 4, 4]
    )
    # the cumulative weights (0.25, 1.5, 1.75, 1.5) / 2 go back down at the end: their running
    # maximum (0.125, 0.75, 0.875, 0.875) is interpolated, i.e. where each level is first reached
    weights = [0.5, 2.0, -1.5, 1.0]
    assert weighted_quantile(values, 0.6, weights) == pytest.approx(1.0 + 0.475 / 0.625)
    assert weighted_quantile(values, 0.8, weights) == pytest.approx(2.4)
    assert weighted_quantile(values, 0.9, weights) == 4.0


def test_weighted_quantile_rejects_bad_input():
    with pytest.raises(InputError, match=r"quantiles must be in \[0, 1\]"):
        weighted_quantile(VALUES, [0.5, 1.5])
    with pytest.raises(InputError, match="non-empty one-dimensional"):
        weighted_quantile([], 0.5)
    with pytest.raises(InputError, match="sample_weight has shape"):
        weighted_quantile(VALUES, 0.5, [1.0, 2.0])


# ----------------------------------------------------------------------------------------------
# sanitize_array, approx_equal, balance_thetas, restrict_samplesize, shuffle
# ----------------------------------------------------------------------------------------------

DIRTY = np.array([1.0, np.nan, np.inf, -np.inf, -20.0, 20.0])


def test_sanitize_array_matches_madminer():
    # MadMiner 0.9.6
    np.testing.assert_array_equal(sanitize_array(DIRTY), [1.0, 0.0, 0.0, 0.0, -20.0, 20.0])
    np.testing.assert_array_equal(
        sanitize_array(
            DIRTY, replace_nan=1.0, replace_inf=2.0, replace_neg_inf=-3.0, min_value=-10.0, max_value=10.0
        ),
        [1.0, 1.0, 2.0, -3.0, -10.0, 10.0],
    )
    np.testing.assert_array_equal(sanitize_array(DIRTY, min_value=-5.0), [1.0, 0.0, 0.0, 0.0, -5.0, 20.0])
    np.testing.assert_array_equal(sanitize_array(DIRTY, max_value=5.0), [1.0, 0.0, 0.0, 0.0, -20.0, 5.0])


def test_sanitize_array_fixes():
    original = DIRTY.copy()
    result = sanitize_array(original)
    np.testing.assert_array_equal(original, DIRTY)  # MadMiner replaced in place
    assert result is not original
    # MadMiner 0.9.6 turns the kept -inf into replace_inf (0.0)
    assert sanitize_array(DIRTY, replace_neg_inf=-np.inf)[3] == -np.inf
    assert sanitize_array(np.arange(4), min_value=1, max_value=2).tolist() == [1, 1, 2, 2]
    assert sanitize_array(np.full((2, 3), np.nan)).shape == (2, 3)
    with pytest.raises(InputError, match="min_value"):
        sanitize_array(DIRTY, min_value=1.0, max_value=0.0)


def test_approx_equal():
    assert approx_equal(1.0, 1.0 + 1e-7)
    assert not approx_equal(1.0, 1.0 + 1e-5)
    assert approx_equal(1.0, 1.1, epsilon=0.2)
    np.testing.assert_array_equal(approx_equal(np.array([1.0, 2.0]), np.array([1.0, 2.1])), [True, False])


def test_balance_thetas_matches_madminer():
    types = [["a"], ["b", "c", "d"], ["e", "f"]]
    values = [[1], [2, 3, 4], [5, 6]]
    # MadMiner 0.9.6
    assert balance_thetas(types, values) == (
        [["a", "a", "a"], ["b", "c", "d"], ["e", "f", "e"]],
        [[1, 1, 1], [2, 3, 4], [5, 6, 5]],
    )
    assert types == [["a"], ["b", "c", "d"], ["e", "f"]]  # not modified (MadMiner: modified in place)
    assert balance_thetas([["a"], ["b", "c", "d"]], [[1], [2, 3, 4]], n_sets=2) == (
        [["a", "a"], ["b", "c"]],
        [[1, 1], [2, 3]],
    )
    assert balance_thetas([], []) == ([], [])
    with pytest.raises(InputError, match="theta 0 has 2 types but 1 values"):
        balance_thetas([["a", "b"]], [[1]])
    with pytest.raises(InputError, match="theta 1 has no sets"):
        balance_thetas([["a"], []], [[1], []])


def test_restrict_samplesize():
    x, none, y = restrict_samplesize(2, np.arange(5), None, np.arange(10).reshape(5, 2))
    assert none is None
    assert x.tolist() == [0, 1]
    assert y.tolist() == [[0, 1], [2, 3]]
    assert restrict_samplesize(None, np.arange(3))[0].tolist() == [0, 1, 2]
    assert restrict_samplesize(10, np.arange(3))[0].tolist() == [0, 1, 2]
    with pytest.raises(InputError, match="non-negative integer"):
        restrict_samplesize(-1, np.arange(3))


def test_shuffle_keeps_rows_together_and_is_seeded():
    x = np.arange(20)
    y = np.stack([x, 10 * x], axis=1)
    a, none, b = shuffle(x, None, y, random_state=3)
    assert none is None
    assert sorted(a.tolist()) == x.tolist()
    np.testing.assert_array_equal(b[:, 0], a)
    np.testing.assert_array_equal(shuffle(x, random_state=3)[0], a)
    np.testing.assert_array_equal(shuffle(x, random_state=np.random.default_rng(3))[0], a)
    # the default follows NumPy's global state, so np.random.seed scripts are reproducible
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(1)  # noqa: NPY002
        first = shuffle(x)[0]
        np.random.seed(1)  # noqa: NPY002
        np.testing.assert_array_equal(shuffle(x)[0], first)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    assert shuffle(None, None) == [None, None]


def test_shuffle_rejects_different_lengths():
    with pytest.raises(InputError, match=r"same length.*\(3,\).*\(4,\)"):
        shuffle(np.arange(3), None, np.arange(4))
    with pytest.raises(InputError, match="random_state"):
        shuffle(np.arange(3), random_state="seed")


# ----------------------------------------------------------------------------------------------
# separate_information_blocks, mdot
# ----------------------------------------------------------------------------------------------

FISHER = np.arange(16.0).reshape(4, 4) + np.arange(16.0).reshape(4, 4).T


def test_separate_information_blocks_matches_madminer():
    nuisance, phys, mix, nuis = separate_information_blocks(FISHER, [2, 0])
    # MadMiner 0.9.6
    assert nuisance == [1, 3]
    np.testing.assert_array_equal(phys, [[20.0, 10.0], [10.0, 0.0]])
    np.testing.assert_array_equal(mix, [[15.0, 5.0], [25.0, 15.0]])
    np.testing.assert_array_equal(nuis, [[10.0, 20.0], [20.0, 30.0]])
    nuisance, phys, mix, nuis = separate_information_blocks(FISHER, [1])
    assert nuisance == [0, 2, 3]
    assert (phys.shape, mix.shape, nuis.shape) == ((1, 1), (3, 1), (3, 3))
    np.testing.assert_array_equal(mix[:, 0], [5.0, 15.0, 20.0])


def test_separate_information_blocks_shapes_and_errors():
    nuisance, phys, mix, nuis = separate_information_blocks(FISHER, [3, 2, 1, 0])
    assert nuisance == []
    assert (phys.shape, mix.shape, nuis.shape) == ((4, 4), (0, 4), (0, 0))
    np.testing.assert_array_equal(phys, FISHER[::-1, ::-1])
    for bad in ([1, 1], [4], [-1]):
        with pytest.raises(InputError, match="distinct indices"):
            separate_information_blocks(FISHER, bad)
    with pytest.raises(InputError, match="square matrix"):
        separate_information_blocks(np.ones((2, 3)), [0])
    with pytest.raises(InputError, match="integer indices"):
        separate_information_blocks(FISHER, [0.5])


def test_mdot_matches_madminer():
    matrix = np.arange(6.0).reshape(2, 3)
    # MadMiner 0.9.6
    np.testing.assert_array_equal(
        mdot(matrix, np.arange(20.0).reshape(5, 4)),
        [[5.0, 17.0, 29.0, 41.0, 53.0], [14.0, 62.0, 110.0, 158.0, 206.0]],
    )
    assert float(mdot(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0]))) == 3.0
    np.testing.assert_array_equal(mdot(np.array([1.0, 2.0]), np.arange(6.0).reshape(2, 3)), [2.0, 11.0])
    np.testing.assert_array_equal(mdot(matrix, np.array([1.0, 10.0, 100.0, 1000.0])), [210.0, 543.0])


# ----------------------------------------------------------------------------------------------
# load_and_check
# ----------------------------------------------------------------------------------------------


def test_load_and_check_file_and_array(tmp_path, caplog):
    path = tmp_path / "x.npy"
    np.save(path, np.array([1.0, np.nan, np.inf, 2e10]))
    with caplog.at_level(logging.WARNING, logger="motherlode.utils.various"):
        data = load_and_check(str(path))
    assert data.shape == (4, 1)
    assert not isinstance(data, np.memmap)
    assert "1 NaNs and 1 Infs, compared to 2 finite numbers" in caplog.text
    assert "large numbers, ranging from 1.0 to 20000000000.0" in caplog.text
    assert load_and_check(None) is None
    assert load_and_check(path, memmap_files_larger_than_gb=1.0).shape == (4, 1)
    array = np.ones((3, 2))
    assert load_and_check(array) is array
    assert load_and_check([1.0, 2.0]).shape == (2, 1)


def test_load_and_check_memmaps_only_large_files(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((100, 2)))
    # MadMiner 0.9.6 computes the size as bytes * 1024**3 and memory-maps every file here
    assert not isinstance(load_and_check(path, memmap_files_larger_than_gb=1.0), np.memmap)
    mapped = load_and_check(path, memmap_files_larger_than_gb=0.0)
    assert isinstance(mapped, np.memmap)
    mapped[0, 0] = 5.0  # copy-on-write, as MadMiner's mmap_mode="c"
    assert np.load(path)[0, 0] == 1.0


def test_load_and_check_errors(tmp_path):
    with pytest.raises(InputError, match=r"missing\.npy"):
        load_and_check(tmp_path / "missing.npy")
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(FileFormatError, match=r"text\.npy"):
        load_and_check(tmp_path / "text.npy")
    np.savez(tmp_path / "both.npz", a=np.ones(2))
    with pytest.raises(FileFormatError, match="npz"):
        load_and_check(tmp_path / "both.npz")


# ----------------------------------------------------------------------------------------------
# math_commands, less_logging
# ----------------------------------------------------------------------------------------------


def test_math_commands_is_the_expression_vocabulary():
    commands = math_commands()
    madminer_names = {"acos", "asin", "atan", "atan2", "ceil", "cos", "cosh", "exp", "floor", "log"}
    madminer_names |= {"pi", "pow", "sin", "sinh", "sqrt", "tan", "tanh"}  # MadMiner 0.9.6's keys
    assert madminer_names <= set(commands)
    assert set(commands) == set(MATH_FUNCTIONS) | set(CONSTANTS)
    assert commands["pi"] == math.pi
    assert float(commands["atan2"](1.0, 1.0)) == pytest.approx(math.pi / 4)
    commands["x"] = 1.0  # a fresh dictionary each time
    assert "x" not in math_commands()


def test_less_logging_silences_info_and_restores():
    logger = logging.getLogger("motherlode.test_less_logging")
    before = logging.root.manager.disable
    with less_logging():
        assert not logger.isEnabledFor(logging.INFO)  # MadMiner 0.9.6: still enabled
        assert logger.isEnabledFor(logging.WARNING)
    assert logging.root.manager.disable == before
    with pytest.raises(ZeroDivisionError), less_logging():
        1 / 0  # noqa: B018
    assert logging.root.manager.disable == before


def test_less_logging_keeps_a_stricter_state():
    logging.disable(logging.WARNING)
    try:
        with less_logging():
            assert logging.root.manager.disable == logging.WARNING
        assert logging.root.manager.disable == logging.WARNING
    finally:
        logging.disable(logging.NOTSET)


# ----------------------------------------------------------------------------------------------
# call_command
# ----------------------------------------------------------------------------------------------


def test_call_command_success():
    # MadMiner 0.9.6
    assert call_command("echo hi") == 0
    assert call_command("echo hi; echo x >&2", return_std=True) == (b"hi\n", b"x\n")
    assert call_command(["echo", "two words"], return_std=True) == (b"two words\n", b"")


def test_call_command_failure_message():
    with pytest.raises(ExternalCommandError) as info:
        call_command("echo out; echo err >&2; exit 3")
    error = info.value
    assert isinstance(error, RuntimeError)
    assert error.returncode == 3
    assert "returned exit code 3" in str(error)
    assert "echo out; echo err >&2; exit 3" in str(error)
    assert "[stdout]\nout" in str(error)
    assert "[stderr]\nerr" in str(error)
    with pytest.raises(ExternalCommandError, match="printed nothing"):
        call_command("exit 1")


def test_call_command_log_file(tmp_path):
    log = tmp_path / "run.log"
    assert call_command("echo a; echo b >&2", log_file=log) == 0
    assert log.read_text() == "a\nb\n"
    assert call_command("echo c", log_file=log, return_std=True) == (b"c\n", b"")
    lines = "; ".join(f"echo line{i}" for i in range(30))
    with pytest.raises(ExternalCommandError) as info:
        call_command(f"{lines}; exit 2", log_file=str(log))
    message = str(info.value)
    assert "exit code 2" in message
    assert str(log) in message
    assert "line29" in message
    assert "line5\n" not in message  # only the tail
    assert info.value.log_file == str(log)
    assert log.read_text().count("line") == 30  # the log is kept: it records the failure


def test_call_command_errors(tmp_path):
    with pytest.raises(InputError, match="empty"):
        call_command("  ")
    with pytest.raises(InputError, match="log_file"):
        call_command("echo hi", log_file=tmp_path / "no" / "dir.log")
    with pytest.raises(ExternalCommandError, match="could not be started"):
        call_command([str(tmp_path / "no-such-program")])


# ----------------------------------------------------------------------------------------------
# unzip_file, copy_file, make_file_executable
# ----------------------------------------------------------------------------------------------


def test_unzip_file_writes_exactly_there(tmp_path):
    target = tmp_path / "out" / "events.lhe"
    target.parent.mkdir()
    unzip_file(LHE_GZ, target, block_size=100)
    assert target.read_bytes() == gzip.decompress(LHE_GZ.read_bytes())
    assert sorted(os.listdir(target.parent)) == ["events.lhe"]
    target.write_text("old")
    unzip_file(str(LHE_GZ), str(target))  # replaces an existing file
    assert target.read_bytes().startswith(b"<LesHouchesEvents")


def test_unzip_file_failures_leave_nothing(tmp_path):
    broken = tmp_path / "broken.gz"
    broken.write_bytes(LHE_GZ.read_bytes()[:300])  # truncated
    target = tmp_path / "out.lhe"
    with pytest.raises(FileFormatError, match=r"broken\.gz"):
        unzip_file(broken, target)
    not_gzip = tmp_path / "plain.gz"
    not_gzip.write_text("plain text")
    with pytest.raises(FileFormatError, match=r"plain\.gz"):
        unzip_file(not_gzip, target)
    assert sorted(os.listdir(tmp_path)) == ["broken.gz", "plain.gz"]
    with pytest.raises(InputError, match="does not exist"):
        unzip_file(tmp_path / "missing.gz", target)
    unzip_file(LHE_GZ, tmp_path / "new" / "out.lhe")  # missing directories are created
    assert (tmp_path / "new" / "out.lhe").read_bytes() == gzip.decompress(LHE_GZ.read_bytes())
    with pytest.raises(InputError, match="block_size"):
        unzip_file(LHE_GZ, target, block_size=0)


def test_copy_file(tmp_path):
    source = tmp_path / "card.dat"
    source.write_text("content")
    copy_file(source, tmp_path / "copy.dat")
    assert (tmp_path / "copy.dat").read_text() == "content"
    assert copy_file(None, tmp_path / "unused.dat") is None
    assert not (tmp_path / "unused.dat").exists()
    with pytest.raises(InputError, match="same file"):
        copy_file(source, source)
    with pytest.raises(FileFormatError, match="is a directory"):
        copy_file(source, tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        copy_file(tmp_path / "missing", tmp_path / "x")
    assert sorted(os.listdir(tmp_path)) == ["card.dat", "copy.dat"]


def test_make_file_executable(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o644)
    make_file_executable(script)
    assert script.stat().st_mode & stat.S_IXUSR
    assert call_command(str(script), return_std=True)[0] == b"ran\n"
    with pytest.raises(InputError, match="does not exist"):
        make_file_executable(tmp_path / "missing.sh")


@pytest.mark.parametrize(
    "kind", ["continuous", "float32", "a few ties", "rounded", "half at a default value", "tiny"]
)
def test_weighted_quantile_orders_ties_as_the_stable_sort(kind):
    """The fast sort gives exactly the stable order (ties in their original order), so the quantiles
    do not depend on the sort: compared with the definition on ``argsort(kind="stable")``."""
    from motherlode.utils.various import sorted_stably

    rng = np.random.default_rng(4)
    x = rng.normal(size=20000)
    values = {
        "continuous": x,
        "float32": x.astype(np.float32).astype(np.float64),
        "a few ties": np.concatenate([x, x[:30]]),
        "rounded": np.round(x, 2),
        "half at a default value": np.where(rng.uniform(size=len(x)) < 0.5, 0.0, x),
        "tiny": np.array([2.0, 1.0, 2.0, 2.0, 0.5]),
    }[kind]
    weights = rng.uniform(0.1, 2.0, size=len(values))
    ordered, order = sorted_stably(values)
    stable = np.argsort(values, kind="stable")
    np.testing.assert_array_equal(order, stable)
    np.testing.assert_array_equal(ordered, values[stable])
    levels = np.linspace(0.001, 0.999, 26)
    cumulative = (np.cumsum(weights[stable]) - 0.5 * weights[stable]) / weights.sum()
    np.testing.assert_allclose(
        weighted_quantile(values, levels, weights), np.interp(levels, cumulative, values[stable]), rtol=1e-13
    )

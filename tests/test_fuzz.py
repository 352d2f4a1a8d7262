"""Property-based tests (hypothesis): damaged and hostile inputs give motherlode's own errors.

* the expression engine: random expressions, hostile snippets and random text either build or raise
  :class:`ExpressionError`; evaluating them raises nothing else, never executes, imports or opens
  anything (an audit hook watches), and never takes long;
* the LHE parser: a real MadGraph file truncated, with bytes changed, cut out or repeated, numbers
  blown up, tags dropped, re-encoded: every failure is a :class:`MotherlodeError` naming the file;
  the whole ``LHEReader`` job on such a file leaves no events file but a complete one, and no spool;
* the file format: a real events file truncated or with bytes changed or zeroed: reading its setup and
  cross sections fails only with a :class:`MotherlodeError` naming the file;
* the workflow config: random documents give a :class:`ConfigError` naming the source, never another
  exception.

The examples are drawn deterministically (``derandomize``), so that CI is reproducible; a failure prints
the smallest input that shows it.
"""

from __future__ import annotations

import gzip
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from motherlode import fileformat  # noqa: E402
from motherlode.analysis import DataAnalyzer  # noqa: E402
from motherlode.errors import ConfigError, ExpressionError, MotherlodeError  # noqa: E402
from motherlode.expressions import Expression  # noqa: E402
from motherlode.lhe.lhefile import iter_lhe_events, read_lhe_header  # noqa: E402
from motherlode.workflow import validate_config  # noqa: E402

DATA = Path(__file__).parent / "data"
FUZZ = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _assert_fails_cleanly(call, name: str, expected: type[Exception] = MotherlodeError) -> None:
    """``call()`` succeeds or raises ``expected`` with ``name`` in its message (anything else propagates)."""
    message = None
    with warnings.catch_warnings():
        # NumPy's RuntimeWarnings are errors here: a wrapped-around integer or a NaN cast must be a
        # clear error, not a warning and a wrong number
        warnings.simplefilter("error", RuntimeWarning)
        try:
            call()
        except expected as error:
            message = str(error)
    assert message is None or name in message, message


# ---------------------------------------------------------------------------- the expression engine

#: audit events an expression must never cause (ast.parse itself raises "compile", which is allowed)
FORBIDDEN_EVENTS = (
    "exec",
    "import",
    "open",
    "os.",
    "subprocess.",
    "socket.",
    "ctypes.",
    "shutil.",
    "pickle.",
)
_watch = {"on": False, "events": []}


def _audit(event: str, args: tuple) -> None:
    if _watch["on"] and event.startswith(FORBIDDEN_EVENTS):
        _watch["events"].append((event, repr(args)[:200]))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one only records while _watch is on

ATOMS = [
    "x", "y", "1", "2.5", "0", "-3", "1e308", "pi", "inf", "nan", "True", "False", "x[0]", "x.real",
    "__import__", "open", "eval", "exec", "globals", "'os'", "b'x'", "[1]", "{}", "()", "lambda: 1",
    "x.__class__", "(y := 2)", "[i for i in x]", "f'{x}'", "...", "None", "x[::2]", "*x", "**x",
]  # fmt: skip
FUNCTIONS = [
    "sqrt", "abs", "exp", "log", "sin", "arctan2", "min", "max", "where", "float", "int", "bool", "clip",
    "getattr", "__import__", "eval", "type", "open", "vars", "print", "compile",
]  # fmt: skip
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "<", ">=", "==", "!=", " and ", " or ", "&", "|", "@", "<<"]

expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(OPERATORS), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        st.tuples(st.sampled_from(FUNCTIONS), st.lists(inner, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        inner.map(lambda e: f"-{e}"),
        inner.map(lambda e: f"not {e}"),
        inner.map(lambda e: f"{e}.__globals__"),
    ),
    max_leaves=12,
)


@settings(FUZZ, max_examples=2000)
@given(st.one_of(expressions, st.text(max_size=60)))
def test_expressions_build_or_fail_cleanly_and_never_execute_anything(source):
    x = np.linspace(-3.0, 3.0, 7)
    start = time.perf_counter()
    _watch["on"], _watch["events"] = True, []
    try:
        expression = Expression(source)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expression(x=x, y=x[::-1])
    except ExpressionError:
        pass
    finally:
        _watch["on"] = False
    assert _watch["events"] == [], source
    assert time.perf_counter() - start < 2.0, source  # 9**9**9**9 is inf, not a huge integer


def test_booleans_count_as_numbers_in_arithmetic():
    """Found by the fuzzing: NumPy's bool + bool is a logical or and -bool an error; Python's are numbers."""
    x, y = np.array([0.0, 2.0, 3.0]), np.array([2.0, 2.0, 0.0])
    np.testing.assert_array_equal(Expression("(x > 1) + (y > 1)")(x=x, y=y), [1.0, 2.0, 1.0])
    np.testing.assert_array_equal(Expression("(x > 1) - (y > 1)")(x=x, y=y), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(Expression("-(x > 1)")(x=x), [0.0, -1.0, -1.0])
    assert float(Expression("+True - -True")()) == 2.0


# ---------------------------------------------------------------------------- the LHE parser


def _lhe_base() -> bytes:
    """The header and first 12 events of a real MadGraph 3.5.7 file with reweighting weights."""
    text = gzip.decompress((DATA / "lhe" / "mg5_3.5.7_pp_ee_rwgt_mz_1000ev.lhe.gz").read_bytes())
    end = 0
    for _ in range(12):
        end = text.index(b"</event>", end) + len(b"</event>")
    return text[:end] + b"\n</LesHouchesEvents>\n"


LHE_BASE = _lhe_base()
TAGS = [b"<event>", b"</event>", b"<init>", b"</init>", b"<header>", b"</header>", b"<rwgt>", b"</rwgt>",
        b"<LesHouchesEvents", b"</LesHouchesEvents>", b"<initrwgt>", b"</initrwgt>", b"<weightgroup",
        b"</weightgroup>", b"<wgt id="]  # fmt: skip


def _changed_bytes(draw, data: bytearray, position: int, spread: int) -> bytes:
    """``data`` with random bytes set to random values, within ``spread`` bytes after ``position``."""
    changes = draw(st.lists(st.tuples(st.integers(0, spread), st.integers(0, 255)), min_size=1))
    for offset, value in changes:
        data[min(position + offset, len(data) - 1)] = value
    return bytes(data)


@st.composite
def damaged_lhe(draw) -> bytes:
    data = bytearray(LHE_BASE)
    kind = draw(st.sampled_from(["truncate", "bytes", "cut", "repeat", "huge", "tag", "encoding"]))
    position = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return bytes(data[:position])
    if kind == "bytes":
        return _changed_bytes(draw, data, position, spread=400)
    if kind == "cut":
        return bytes(data[:position] + data[position + draw(st.integers(1, 300)) :])
    if kind == "repeat":
        piece = data[position : position + draw(st.integers(1, 600))]
        return bytes(data[:position] + piece + data[position:])
    if kind == "huge":
        digits = [i for i in range(position, min(position + 2000, len(data))) if chr(data[i]).isdigit()]
        at = digits[0] if digits else position
        return bytes(data[:at] + b"9" * draw(st.integers(19, 400)) + data[at:])
    if kind == "tag":
        tag = draw(st.sampled_from(TAGS))
        at = data.find(tag, draw(st.integers(0, len(data) // 2)))
        return bytes(data if at < 0 else data[:at] + data[at + len(tag) :])
    return bytes(data).decode("latin-1").encode(draw(st.sampled_from(["utf-16", "utf-32", "cp500"])))


@settings(FUZZ, max_examples=250)
@given(damaged_lhe())
def test_damaged_lhe_files_give_errors_naming_the_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("lhe") / "damaged.lhe"
    path.write_bytes(data)

    def read() -> None:
        read_lhe_header(path)
        for _ in iter_lhe_events(path, chunk_size=5):
            pass

    _assert_fails_cleanly(read, "damaged.lhe")


def test_an_integer_too_large_for_int64_is_an_error_naming_the_line(tmp_path):
    """Found by the fuzzing: a 25-digit particle id was cast to int64 with a warning and wrapped around."""
    lines = LHE_BASE.decode().splitlines(keepends=True)
    first_event = lines.index("<event>\n")
    particle = first_event + 2  # after <event> and the event's own line
    lines[particle] = "9" * 25 + " " + lines[particle].split(maxsplit=1)[1]
    path = tmp_path / "huge.lhe"
    path.write_text("".join(lines))
    with pytest.raises(MotherlodeError, match=rf"huge\.lhe: line {particle + 1}: expected an integer IDUP"):
        for _ in iter_lhe_events(path):
            pass


@pytest.fixture(scope="module")
def mz_setup(tmp_path_factory):
    from motherlode import MadMiner

    miner = MadMiner()
    miner.add_parameter("SMEFT", 22, parameter_name="x", morphing_max_power=2, parameter_range=(-2.0, 2.0))
    for name, value in {"sm": 0.0, "mz95": 0.5, "mz100": 1.0, "aew130": -1.0}.items():
        miner.add_benchmark({"x": value}, name)
    path = tmp_path_factory.mktemp("setup") / "setup.h5"
    miner.save(path)
    return path


@settings(FUZZ, max_examples=40)
@given(damaged_lhe())
def test_a_damaged_lhe_file_leaves_no_output_behind(tmp_path_factory, mz_setup, data):
    """The whole LHEReader job on a damaged file: an error naming the file, no events file, no spool."""
    from motherlode import LHEReader

    folder = tmp_path_factory.mktemp("job")
    path, spool, output = folder / "damaged.lhe", folder / "spool", folder / "out" / "events.h5"
    path.write_bytes(data)
    spool.mkdir()

    def job() -> None:
        reader = LHEReader(mz_setup, random_state=1, progress=False, tmp_dir=spool)
        reader.add_sample(path, sampled_from_benchmark="sm")
        reader.set_smearing(pdgids=[11, -11], pt_resolution_rel=0.02, energy_resolution_abs=None)
        reader.add_observable("m_ll", "(l[0] + l[1]).m", required=True)
        reader.analyse_samples()
        reader.save(output)

    _assert_fails_cleanly(job, "damaged.lhe")
    # the events file is there complete or not at all: no temporary or partial file beside it
    beside = [p.name for p in output.parent.iterdir() if p != output] if output.parent.exists() else []
    assert beside == []
    assert not list(spool.iterdir())  # the spool is removed whatever happened


# ---------------------------------------------------------------------------- the file format

EVENTS_FILE = (DATA / "madminer096" / "events_cHl3.h5").read_bytes()


@st.composite
def damaged_h5(draw) -> bytes:
    data = bytearray(EVENTS_FILE)
    kind = draw(st.sampled_from(["truncate", "bytes", "zeros"]))
    position = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return bytes(data[:position])
    if kind == "bytes":
        return _changed_bytes(draw, data, position, spread=5000)
    length = draw(st.integers(1, 4000))
    data[position : position + length] = bytes(len(data[position : position + length]))
    return bytes(data)


@settings(FUZZ, max_examples=200)
@given(damaged_h5())
def test_damaged_events_files_give_errors_naming_the_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("h5") / "damaged.h5"
    path.write_bytes(data)

    def read() -> None:
        fileformat.read_setup(path)
        DataAnalyzer(path).xsecs()

    _assert_fails_cleanly(read, "damaged.h5")


def test_foreign_hdf5_files_are_named(tmp_path):
    import h5py

    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as handle:
        handle["parameters/names"] = np.arange(3.0)  # numbers where names belong
        handle.create_group("benchmarks/names")  # a group where a dataset belongs
    for read in (fileformat.read_setup, DataAnalyzer):
        with pytest.raises(MotherlodeError, match=r"foreign\.h5"):
            read(path)


# ---------------------------------------------------------------------------- the workflow config

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
SECTIONS = ["setup", "events", "sampling", "training", "evaluation", "fisher_information", "limits",
            "plots", "report", "cluster", "inputs", "output", "random_state", "device", "mlflow"]  # fmt: skip


@FUZZ
@given(
    st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=6), json_values, max_size=4) | json_values
)
def test_random_configs_give_config_errors(document):
    _assert_fails_cleanly(lambda: validate_config(document, "fuzz.yaml"), "fuzz.yaml: ", ConfigError)

"""Tests of motherlode.expressions: the safe, vectorised expression engine."""

from __future__ import annotations

import ast
import copy
import math
import pickle
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import motherlode.expressions as expressions
from motherlode.errors import ExpressionError
from motherlode.expressions import CONSTANTS, MATH_FUNCTIONS, MAX_DEPTH, MAX_SOURCE_LENGTH, Expression

RNG = np.random.default_rng(20240611)
X = RNG.normal(scale=3.0, size=64)
Y = RNG.uniform(0.1, 5.0, size=64)
Z = RNG.normal(size=64)
U = RNG.uniform(-0.99, 0.99, size=64)

# (source, the same computation written directly with numpy)
NUMERIC_CASES = [
    ("x + y * z", lambda x, y, z, u: x + y * z),
    ("(x + y) * z", lambda x, y, z, u: (x + y) * z),
    ("x - y - z", lambda x, y, z, u: x - y - z),
    ("x / y / z", lambda x, y, z, u: x / y / z),
    ("x // y", lambda x, y, z, u: np.floor_divide(x, y)),
    ("x % y", lambda x, y, z, u: np.remainder(x, y)),
    ("-x % y", lambda x, y, z, u: np.remainder(-x, y)),
    ("y ** z", lambda x, y, z, u: np.power(y, z)),
    ("x ** 2 + y ** 0.5", lambda x, y, z, u: x**2 + np.sqrt(y)),
    ("x ** 3", lambda x, y, z, u: x**3),
    ("x ** 0.5", lambda x, y, z, u: np.power(x, 0.5)),  # nan for negative x
    ("-x ** 2", lambda x, y, z, u: -(x**2)),
    ("+x - -y", lambda x, y, z, u: x + y),
    ("2 ** -z", lambda x, y, z, u: np.power(2.0, -z)),
    ("sqrt(y) * exp(-z**2 / 2)", lambda x, y, z, u: np.sqrt(y) * np.exp(-(z**2) / 2)),
    (
        "log(y) + log10(y) + log2(y) + log1p(y) + expm1(z)",
        lambda x, y, z, u: np.log(y) + np.log10(y) + np.log2(y) + np.log1p(y) + np.expm1(z),
    ),
    ("sin(x) * cos(y) - tan(z)", lambda x, y, z, u: np.sin(x) * np.cos(y) - np.tan(z)),
    ("asin(u) + acos(u) + atan(x)", lambda x, y, z, u: np.arcsin(u) + np.arccos(u) + np.arctan(x)),
    ("atan2(x, z)", lambda x, y, z, u: np.arctan2(x, z)),
    ("sinh(z) + cosh(z) + tanh(x)", lambda x, y, z, u: np.sinh(z) + np.cosh(z) + np.tanh(x)),
    (
        "asinh(x) + acosh(1 + y) + atanh(u)",
        lambda x, y, z, u: np.arcsinh(x) + np.arccosh(1 + y) + np.arctanh(u),
    ),
    ("abs(x) + fabs(z)", lambda x, y, z, u: np.abs(x) + np.fabs(z)),
    (
        "ceil(x) + floor(z) + trunc(x) + round(z)",
        lambda x, y, z, u: np.ceil(x) + np.floor(z) + np.trunc(x) + np.round(z),
    ),
    ("sign(x) * hypot(x, z)", lambda x, y, z, u: np.sign(x) * np.hypot(x, z)),
    ("fmod(x, y) + copysign(y, z)", lambda x, y, z, u: np.fmod(x, y) + np.copysign(y, z)),
    (
        "pow(y, z) + degrees(u) + radians(x)",
        lambda x, y, z, u: np.power(y, z) + np.degrees(u) + np.radians(x),
    ),
    ("min(x, y, z)", lambda x, y, z, u: np.minimum(np.minimum(x, y), z)),
    ("max(x, y, z, u)", lambda x, y, z, u: np.maximum(np.maximum(np.maximum(x, y), z), u)),
    ("min(x, 1)", lambda x, y, z, u: np.minimum(x, 1.0)),
    ("clip(x, -1, 2)", lambda x, y, z, u: np.clip(x, -1, 2)),
    ("where(x > 0, y, z)", lambda x, y, z, u: np.where(x > 0, y, z)),
    ("y if x > 0 else z", lambda x, y, z, u: np.where(x > 0, y, z)),
    ("x if x > 0 else -x if z > 0 else 0", lambda x, y, z, u: np.where(x > 0, x, np.where(z > 0, -x, 0))),
    ("pi * x + e * y + tau * z", lambda x, y, z, u: np.pi * x + np.e * y + 2 * np.pi * z),
    ("1 / (x - x)", lambda x, y, z, u: 1 / (x - x)),
    ("(x - x) / (x - x)", lambda x, y, z, u: (x - x) / (x - x)),
    ("x * 1e3 + 2.5e-1", lambda x, y, z, u: x * 1000 + 0.25),
]

BOOLEAN_CASES = [
    ("x > 0", lambda x, y, z, u: x > 0),
    ("x >= z", lambda x, y, z, u: x >= z),
    ("x < 1", lambda x, y, z, u: x < 1),
    ("x <= z", lambda x, y, z, u: x <= z),
    ("round(x) == 1", lambda x, y, z, u: np.round(x) == 1),
    ("round(x) != 1", lambda x, y, z, u: np.round(x) != 1),
    ("0 < x < 1", lambda x, y, z, u: (x > 0) & (x < 1)),
    ("-1 <= x < y <= 3", lambda x, y, z, u: (x >= -1) & (x < y) & (y <= 3)),
    ("x > 0 and z > 0", lambda x, y, z, u: (x > 0) & (z > 0)),
    ("x > 0 or z > 0", lambda x, y, z, u: (x > 0) | (z > 0)),
    ("x > 0 and z > 0 and u > 0", lambda x, y, z, u: (x > 0) & (z > 0) & (u > 0)),
    ("x > 0 or z > 0 or u > 0", lambda x, y, z, u: (x > 0) | (z > 0) | (u > 0)),
    ("x > 0 and z > 0 or u > 0", lambda x, y, z, u: ((x > 0) & (z > 0)) | (u > 0)),
    ("x > 0 and (z > 0 or u > 0)", lambda x, y, z, u: (x > 0) & ((z > 0) | (u > 0))),
    ("not x > 0", lambda x, y, z, u: ~(x > 0)),
    ("~(x > 0) and not z > 0", lambda x, y, z, u: ~(x > 0) & ~(z > 0)),
    (
        "isnan(x ** 0.5) or isinf(1 / (x - x)) and isfinite(y)",
        lambda x, y, z, u: np.isnan(np.power(x, 0.5)) | (np.isinf(1 / (x - x)) & np.isfinite(y)),
    ),
    ("x > 30 and abs(z) < 2.5", lambda x, y, z, u: (x > 30) & (np.abs(z) < 2.5)),
    ("True and x > 0", lambda x, y, z, u: x > 0),
    ("False or x > 0", lambda x, y, z, u: x > 0),
]


def _expected(function, *arguments):
    with np.errstate(all="ignore"):
        return function(*arguments)


@pytest.mark.parametrize(("source", "reference"), NUMERIC_CASES + BOOLEAN_CASES)
def test_arrays_match_numpy(source, reference):
    expression = Expression(source)
    result = expression(x=X, y=Y, z=Z, u=U)
    expected = _expected(reference, X, Y, Z, U)
    assert isinstance(result, np.ndarray)
    assert result.shape == X.shape
    assert result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=0, equal_nan=True)


@pytest.mark.parametrize(("source", "reference"), NUMERIC_CASES + BOOLEAN_CASES)
def test_scalars_match_numpy(source, reference):
    expression = Expression(source)
    for index in (0, 1, 7, 33):
        arguments = (float(X[index]), float(Y[index]), float(Z[index]), float(U[index]))
        result = expression(dict(zip("xyzu", arguments, strict=True)))
        expected = _expected(reference, *(np.float64(a) for a in arguments))
        assert np.ndim(result) == 0
        assert not isinstance(result, np.ndarray)
        np.testing.assert_allclose(result, expected, rtol=1e-12, atol=0, equal_nan=True)


def test_arrays_broadcast_against_scalars():
    result = Expression("x * y + z")(x=X, y=2.0, z=np.float32(1.0))
    np.testing.assert_allclose(result, X * 2.0 + 1.0)


def test_two_dimensional_arrays():
    grid = X.reshape(8, 8)
    result = Expression("max(grid, 0) ** 2 if grid > 1 else -1")(grid=grid)
    np.testing.assert_array_equal(result, np.where(grid > 1, np.maximum(grid, 0) ** 2, -1))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("-2**2", -4.0),
        ("(-2)**2", 4.0),
        ("(-2)**3", -8.0),
        ("2**3**2", 512.0),
        ("2**-1", 0.5),
        ("-8**(1/3)", -2.0),
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("7 // 2", 3.0),
        ("-7 // 2", -4.0),
        ("-7 % 3", 2.0),
        ("7 / 2", 3.5),
        ("10 - 4 - 3", 3.0),
        ("2 * 3 ** 2", 18.0),
        ("-x ** 2", -9.0),
        ("3 if 1 < 2 else 4", 3.0),
        ("1e3", 1000.0),
    ],
)
def test_precedence_and_literals(source, expected):
    result = Expression(source)(x=3.0)
    assert result == expected


@pytest.mark.parametrize("source", ["(-8)**(1/3)", "(-2)**0.5", "pow(-2, 0.5)", "sqrt(-1)", "0/0", "log(-1)"])
def test_invalid_operations_give_nan_without_warning(source):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(Expression(source)())


@pytest.mark.parametrize(
    ("source", "expected"), [("1/0", math.inf), ("-1/0", -math.inf), ("log(0)", -math.inf)]
)
def test_division_by_zero_gives_inf_without_warning(source, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Expression(source)() == expected


def test_numeric_literals_are_floats_and_booleans_stay_booleans():
    assert type(Expression("1")()) is float
    assert type(Expression("-1")()) is not int
    assert Expression("1 / 2")() == 0.5
    assert Expression("True")() is True
    assert Expression("False")() is False
    assert bool(Expression("not False")()) is True


def test_power_tower_overflows_to_inf_quickly():
    start = time.perf_counter()
    result = Expression("9**9**9**9")()
    assert time.perf_counter() - start < 1.0
    assert result == math.inf


def test_huge_integer_literal_becomes_inf():
    assert Expression("1" + "0" * 400)() == math.inf
    assert Expression("x * 1" + "0" * 400)(x=-1.0) == -math.inf


def test_not_and_invert_are_logical():
    mask = np.array([True, False, True])
    np.testing.assert_array_equal(Expression("~m")(m=mask), ~mask)
    np.testing.assert_array_equal(Expression("not m")(m=mask), ~mask)
    assert Expression("~b")(b=True) == np.False_
    assert Expression("not 0")() == np.True_


def test_and_or_do_not_short_circuit_and_work_elementwise():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    c = np.array([False, True, True, True])
    np.testing.assert_array_equal(Expression("a and b and c")(a=a, b=b, c=c), a & b & c)
    np.testing.assert_array_equal(Expression("a or b or c")(a=a, b=b, c=c), a | b | c)
    # both operands are evaluated: a missing variable on the right-hand side is noticed
    with pytest.raises(ExpressionError, match="'b'"):
        Expression("a or b")(a=True)


def test_comparison_chain_evaluates_middle_operand_once():
    calls = []

    def middle(value):
        calls.append(value)
        return value

    expression = Expression("0 < middle(x) < 1", functions={"middle": middle})
    np.testing.assert_array_equal(expression(x=np.array([-1.0, 0.5, 2.0])), [False, True, False])
    assert len(calls) == 1


def test_where_and_if_else_give_scalars_for_scalars():
    for source in ("where(x > 0, 1, 2)", "1 if x > 0 else 2"):
        result = Expression(source)(x=-1.0)
        assert not isinstance(result, np.ndarray)
        assert result == 2.0
        assert isinstance(result, float)


def test_min_max_three_arguments_and_nan_propagation():
    assert Expression("min(3, 1, 2)")() == 1.0
    assert Expression("max(3, 1, 2)")() == 3.0
    assert math.isnan(Expression("max(1, nan, 2)")())
    result = Expression("min(a, b, c)")(a=np.array([1.0, 9.0]), b=np.array([5.0, 4.0]), c=3.0)
    np.testing.assert_array_equal(result, [1.0, 3.0])


def test_names_used():
    assert Expression("pt_j1 > 30 and abs(eta_j1) < 2.5").names_used == frozenset({"pt_j1", "eta_j1"})
    assert Expression("sqrt(x**2 + y**2) * pi + e + inf").names_used == frozenset({"x", "y"})
    assert Expression("1 + 2").names_used == frozenset()
    assert Expression("x + x * x").names_used == frozenset({"x"})
    assert Expression("j[0].pt", attributes={"pt"}, allow_subscripts=True).names_used == frozenset({"j"})
    assert isinstance(Expression("x").names_used, frozenset)


def test_param_card_transform():
    assert Expression("16.52*theta", names={"theta"})(theta=0.5) == 8.26
    identity = Expression("theta", names={"theta"})
    assert identity(theta=0.5) == 0.5
    values = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_array_equal(identity(theta=values), values)
    np.testing.assert_allclose(Expression("16.52*theta", names=["theta"])(theta=values), 16.52 * values)


def test_restricted_names():
    expression = Expression("a * sqrt(b) + pi", names={"a", "b", "c"})
    assert expression.names == frozenset({"a", "b", "c"})
    assert expression.names_used == frozenset({"a", "b"})
    assert expression(a=2.0, b=4.0) == pytest.approx(4.0 + math.pi)
    with pytest.raises(ExpressionError, match=r"unknown name 'd'.*'a', 'b', 'c'"):
        Expression("a + d", names={"a", "b", "c"})
    with pytest.raises(ExpressionError, match="'sqrt' is a function"):
        Expression("sqrt + a", names={"a"})


def test_listed_names_shadow_constants():
    assert Expression("e")() == math.e
    assert Expression("e", names={"x"})() == math.e
    assert Expression("e * 2", names={"e"})(e=3.0) == 6.0
    assert Expression("e * 2", names={"e"}).names_used == frozenset({"e"})


def test_constants_table():
    assert dict(CONSTANTS) == {
        "pi": math.pi,
        "e": math.e,
        "tau": math.tau,
        "inf": math.inf,
        "nan": CONSTANTS["nan"],
    }
    assert math.isnan(CONSTANTS["nan"])
    assert all(type(value) is float for value in CONSTANTS.values())
    with pytest.raises(TypeError):
        CONSTANTS["pi"] = 3.0  # type: ignore[index]


def test_namespace_and_keyword_values():
    expression = Expression("x - y")
    assert expression({"x": 5.0, "y": 1.0}) == 4.0
    assert expression({"x": 5.0, "y": 1.0}, y=2.0) == 3.0  # keywords take precedence
    assert expression(x=5.0, y=1.0) == 4.0
    assert expression.evaluate({"x": 5.0}, y=1.0) == 4.0


def test_only_names_used_are_looked_up():
    class LazyMapping(dict):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.requested = []

        def __getitem__(self, key):
            self.requested.append(key)
            return super().__getitem__(key)

    namespace = LazyMapping(a=1.0, b=2.0, c=3.0)
    assert Expression("a + b")(namespace) == 3.0
    assert sorted(namespace.requested) == ["a", "b"]


def test_missing_variable_names_it_and_lists_provided():
    expression = Expression("pt_j1 > 30 and eta_j1 < 2", context="cut 0")
    with pytest.raises(ExpressionError) as info:
        expression({"pt_j1": 1.0, "phi_j1": 0.0}, m_jj=3.0)
    message = str(info.value)
    assert "'eta_j1'" in message
    assert "'m_jj'" in message
    assert "'phi_j1'" in message
    assert "'pt_j1'" in message
    assert "cut 0" in message
    with pytest.raises(ExpressionError, match=r"'x'.*provided: \(none\)"):
        Expression("x")()


def test_expression_error_is_value_error():
    with pytest.raises(ValueError, match="not allowed"):
        Expression("x.y")


def test_whitespace_and_multiline_sources():
    assert Expression("  x + 1  ")(x=1.0) == 2.0
    assert Expression("(x +\n 1)")(x=1.0) == 2.0
    assert Expression("\tx")(x=1.0) == 1.0
    assert Expression("x  ").source == "x  "


# ----------------------------------------------------------------------------------------------
# Security
# ----------------------------------------------------------------------------------------------

MALICIOUS = [
    "__import__('os').system('x')",
    "__import__",
    "().__class__.__bases__",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "x.__dict__",
    "x._private",
    "__builtins__",
    "_",
    "_x + 1",
    "[c for c in ()]",
    "{c for c in ()}",
    "{c: c for c in ()}",
    "(c for c in ())",
    "lambda: 1",
    "(lambda x: x)(1)",
    "'a'",
    "b'a'",
    "'a' + 'b'",
    'f"{x}"',
    "(x := 1)",
    "open('f')",
    "getattr(x, 'y')",
    "eval('1')",
    "exec('1')",
    "compile('1', 'f', 'eval')",
    "globals()",
    "locals()",
    "vars()",
    "dir()",
    "print(1)",
    "input()",
    "breakpoint()",
    "type(x)",
    "x[1:2]",
    "x[:]",
    "x[y]",
    "x[0]",
    "x[1.0]",
    "x[True]",
    "x[0, 1]",
    "{1: 2}",
    "{1, 2}",
    "[1, 2]",
    "(1, 2)",
    "()",
    "*x",
    "f(*x)",
    "sqrt(*x)",
    "sqrt(**x)",
    "sqrt(x=1)",
    "x.f()",
    "sqrt.__call__(1)",
    "x(1)",
    "None",
    "...",
    "1j",
    "x if y else",
    "await x",
    "(yield x)",
    "x & y",
    "x | y",
    "x ^ y",
    "x << 1",
    "x >> 1",
    "x @ y",
    "x in y",
    "x not in y",
    "x is y",
    "x is not y",
    "1; import os",
    "import os",
    "x = 1",
    "",
    "   ",
    "x +",
    "def f(): pass",
    "\x00",
    "x" * (MAX_SOURCE_LENGTH + 1),
    "-" * 9000 + "x",
    "not " * 2000 + "x",
    "(" * 5000 + "x" + ")" * 5000,
    "1+" * 4000 + "1",
    "sqrt(" * 150 + "x" + ")" * 150,
]


@pytest.mark.parametrize("source", MALICIOUS, ids=lambda source: repr(source[:40]))
def test_malicious_sources_are_rejected_at_construction(source):
    with pytest.raises(ExpressionError):
        Expression(source)


def test_bare_builtin_names_are_plain_variables():
    expression = Expression("open + print")
    assert expression.names_used == frozenset({"open", "print"})
    with pytest.raises(ExpressionError, match="variables 'open', 'print', which were not provided"):
        expression()  # never falls back to Python's builtins
    assert expression(open=1.0, print=2.0) == 3.0


@pytest.mark.parametrize(
    "source",
    ["x.__class__", "x._y", "x.pt.__class__", "j[0].__class__", "__import__('os')", "pt._x"],
)
def test_underscore_attributes_rejected_even_if_listed(source):
    with pytest.raises(ExpressionError):
        Expression(source, attributes={"pt", "__class__", "_y", "_x"}, allow_subscripts=True)


def test_underscore_names_rejected_even_if_listed():
    with pytest.raises(ExpressionError, match="'_x'"):
        Expression("_x", names={"_x"})
    with pytest.raises(ExpressionError, match="'_f'"):
        Expression("_f(1)", functions={"_f": abs})


def test_too_long_source_message():
    with pytest.raises(ExpressionError, match="too long"):
        Expression("x" * (MAX_SOURCE_LENGTH + 1))
    Expression("+".join(["x"] * 50))  # long but shallow is fine


def test_depth_limit():
    Expression("-" * (MAX_DEPTH - 1) + "x")
    with pytest.raises(ExpressionError, match="nested too deeply"):
        Expression("-" * MAX_DEPTH + "x")
    with pytest.raises(ExpressionError, match="nested too deeply"):
        Expression("-" * 9000 + "x")


def test_module_contains_no_eval_exec_or_compile_call():
    text = Path(expressions.__file__).read_text(encoding="utf-8")
    forbidden = re.compile(r"(?<![\w])(eval|exec|compile)\s*\(")
    assert forbidden.findall(text) == []
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
            assert name not in {"eval", "exec", "compile", "__import__"}, ast.unparse(node)


def test_forbidden_call_regex_catches_calls():
    # the scan above must be able to fail
    forbidden = re.compile(r"(?<![\w])(eval|exec|compile)\s*\(")
    assert forbidden.search("x = eval (s)")
    assert forbidden.search("builtins.exec(s)")
    assert not forbidden.search('ast.parse(s, mode="eval")')


# ----------------------------------------------------------------------------------------------
# Attributes and subscripts
# ----------------------------------------------------------------------------------------------


class FakeCollection:
    """A minimal stand-in for the event model's collections."""

    def __init__(self, pt, eta):
        self.pt = np.asarray(pt, dtype=float)
        self.eta = np.asarray(eta, dtype=float)
        self.secret = "should not be reachable"
        self.accessed = []

    def __getitem__(self, index):
        self.accessed.append(index)
        if not -len(self.pt) <= index < len(self.pt):
            raise IndexError(f"collection has only {len(self.pt)} objects")
        return FakeCollection(self.pt[index], self.eta[index])

    def __getattr__(self, name):
        raise AttributeError(f"no attribute {name!r} in FakeCollection")


JETS = FakeCollection([120.0, 60.0, 35.0], [0.5, -1.5, 2.0])


def _event_expression(source, **kwargs):
    return Expression(source, attributes={"pt", "eta", "phi"}, allow_subscripts=True, **kwargs)


def test_attribute_and_subscript_delegation():
    assert _event_expression("j[0].pt")(j=JETS) == 120.0
    assert _event_expression("j[-1].pt + j[1].pt")(j=JETS) == 95.0
    assert _event_expression("abs(j[-2].eta)")(j=JETS) == 1.5
    np.testing.assert_array_equal(_event_expression("j.pt > 50")(j=JETS), [True, True, False])
    assert _event_expression("sqrt(j[0].pt**2 + met.pt**2)")(
        j=JETS, met=FakeCollection(5.0, 0.0)
    ) == pytest.approx(math.hypot(120.0, 5.0))


def test_subscript_index_stays_integer():
    collection = FakeCollection([1.0, 2.0], [0.0, 0.0])
    _event_expression("j[1].pt + j[-2].pt")(j=collection)
    assert collection.accessed == [1, -2]
    assert all(type(index) is int for index in collection.accessed)


def test_subscript_errors_from_object_propagate_unchanged():
    with pytest.raises(IndexError, match="only 3 objects"):
        _event_expression("j[5].pt")(j=JETS)


def test_attribute_errors_from_object_propagate_unchanged():
    with pytest.raises(AttributeError, match="'phi'"):
        _event_expression("j.phi")(j=JETS)


def test_attribute_not_listed_is_rejected():
    with pytest.raises(ExpressionError, match=r"'\.secret'.*'eta', 'phi', 'pt'"):
        _event_expression("j.secret")
    with pytest.raises(ExpressionError, match="no attributes are allowed"):
        Expression("j.pt")


def test_subscripts_need_permission_and_integer_literals():
    with pytest.raises(ExpressionError, match="subscripts"):
        Expression("j[0]", attributes={"pt"})
    for source in ("j[0:1]", "j[i]", "j[1 + 1]", "j[0.0]", "j[-i]", "j[True]", "j[...]", "j['pt']"):
        with pytest.raises(ExpressionError, match="integer literal"):
            _event_expression(source)


# ----------------------------------------------------------------------------------------------
# Method calls
# ----------------------------------------------------------------------------------------------


class FakeParticle:
    """A stand-in for a particle with methods."""

    def __init__(self, phi):
        self.calls = []
        self._phi = np.asarray(phi, dtype=float)

    def phi(self, *args):
        self.calls.append(args)
        return self._phi

    def deltaphi(self, other):
        return self._phi - other._phi

    def secret(self):
        return "should not be reachable"


def _method_expression(source, **kwargs):
    return Expression(source, attributes={"phi", "deltaphi"}, allow_subscripts=True, **kwargs)


def test_method_calls_of_listed_attributes():
    a, b = FakeParticle([1.0, 2.0]), FakeParticle([0.5, 3.0])
    np.testing.assert_array_equal(_method_expression("abs(a.phi() - b.phi())")(a=a, b=b), [0.5, 1.0])
    np.testing.assert_array_equal(_method_expression("a.deltaphi(b) * 2")(a=a, b=b), [1.0, -2.0])
    np.testing.assert_array_equal(_method_expression("a.phi(1, x + 1)")(a=a, x=1.0), [1.0, 2.0])
    assert a.calls == [(), (1.0, 2.0)]
    assert _method_expression("a.phi()").names_used == {"a"}


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("a.__class__()", "names starting with '_'"),
        ("a.__init__.__globals__", "names starting with '_'"),
        ("a.secret()", "'.secret' is not allowed"),
        ("a.foo()", "'.foo' is not allowed"),
        ("a.phi(key=1)", "keyword arguments"),
        ("a.phi(*x)", "starred"),
        ("a.phi(**x)", "keyword arguments"),
        ("a.phi()()", "named functions"),
        ("a[0]()", "named functions"),
        ("(a.phi)()", ""),
    ],
)
def test_method_calls_rejected_at_construction(source, fragment):
    if source == "(a.phi)()":  # the same syntax tree as a.phi(): allowed
        _method_expression(source)
        return
    with pytest.raises(ExpressionError, match=re.escape(fragment)):
        _method_expression(source)


def test_method_calls_need_listed_attributes():
    with pytest.raises(ExpressionError, match="no attributes are allowed"):
        Expression("a.phi()")
    with pytest.raises(ExpressionError, match="only calls of named functions such as 'sqrt\\(x\\)' are"):
        Expression("(x)(1)()")


# ----------------------------------------------------------------------------------------------
# Masked arrays
# ----------------------------------------------------------------------------------------------

MASKED = np.ma.MaskedArray([1.0, 2.0, 3.0, 4.0], mask=[True, False, False, True])
CONDITION = np.array([False, True, False, True])


def _masked_result(source, **values):
    result = Expression(source)(m=MASKED, c=CONDITION, **values)
    assert isinstance(result, np.ma.MaskedArray), source
    return np.ma.getdata(result).tolist(), np.ma.getmaskarray(result).tolist()


@pytest.mark.parametrize(
    ("source", "data", "mask"),
    [
        ("m if c else 0", [0.0, 2.0, 0.0, None], [False, False, False, True]),
        ("where(c, m, -1)", [-1.0, 2.0, -1.0, None], [False, False, False, True]),
        ("where(m > 2, 1, 0)", [None, 0.0, 1.0, None], [True, False, False, True]),
        ("0 if c else m", [None, 0.0, 3.0, 0.0], [True, False, False, False]),
        ("min(m, 2)", [None, 2.0, 2.0, None], [True, False, False, True]),
        ("max(m, 2, x)", [None, 2.0, 3.0, None], [True, False, False, True]),
        ("clip(m, 0, 2.5)", [None, 2.0, 2.5, None], [True, False, False, True]),
        ("clip(x, m, 5)", [None, 2.0, 3.0, None], [True, False, False, True]),
        ("sqrt(m) ** 2", [None, 2.0, 3.0, None], [True, False, False, True]),
        ("round(m + 0.4)", [None, 2.0, 3.0, None], [True, False, False, True]),
        ("not m > 2", [None, True, False, None], [True, False, False, True]),
    ],
)
def test_masks_propagate_through_functions_and_where(source, data, mask):
    result_data, result_mask = _masked_result(source, x=np.zeros(4))
    assert result_mask == mask
    for value, expected, masked in zip(result_data, data, mask, strict=True):
        if not masked:
            assert value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("source", "data", "mask"),
    [
        # 'and'/'or' mask only where Python's short-circuiting evaluation would need a masked operand
        ("c and m > 2", [False, False, False, None], [False, False, False, True]),
        ("m > 2 and c", [None, False, False, None], [True, False, False, True]),
        ("c or m > 2", [None, True, True, True], [True, False, False, False]),
        ("not c or m > 2", [True, False, True, None], [False, False, False, True]),
        ("c and m > 0 and m < 3", [False, True, False, None], [False, False, False, True]),
        ("0 < m < 3", [None, True, False, None], [True, False, False, True]),
    ],
)
def test_logical_operators_with_masks(source, data, mask):
    result_data, result_mask = _masked_result(source, x=np.zeros(4))
    assert result_mask == mask
    for value, expected, masked in zip(result_data, data, mask, strict=True):
        if not masked:
            assert value == expected


def test_logical_operators_without_masks_unchanged():
    result = Expression("x > 0 and y > 0 or z > 0")(x=np.array([1.0, 1.0]), y=np.array([1.0, -1.0]), z=0.0)
    assert type(result) is np.ndarray
    assert result.tolist() == [True, False]
    assert type(Expression("where(x > 0, 1, 2)")(x=np.array([1.0]))) is np.ndarray


# ----------------------------------------------------------------------------------------------
# Functions
# ----------------------------------------------------------------------------------------------

MADMINER_MATH_NAMES = [
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "copysign",
    "cos",
    "cosh",
    "degrees",
    "e",
    "erf",
    "erfc",
    "exp",
    "expm1",
    "fabs",
    "floor",
    "fmod",
    "gamma",
    "hypot",
    "isinf",
    "isnan",
    "lgamma",
    "log",
    "log10",
    "log1p",
    "pi",
    "pow",
    "radians",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
]


@pytest.mark.parametrize("name", MADMINER_MATH_NAMES)
def test_madminer_math_names_are_available(name):
    assert name in MATH_FUNCTIONS or name in CONSTANTS


def test_math_functions_is_read_only():
    with pytest.raises(TypeError):
        MATH_FUNCTIONS["sqrt"] = abs  # type: ignore[index]


def _arity(name):
    return {
        "atan2": 2,
        "hypot": 2,
        "fmod": 2,
        "copysign": 2,
        "pow": 2,
        "min": 2,
        "max": 2,
        "where": 3,
        "clip": 3,
    }.get(name, 1)


@pytest.mark.parametrize("name", sorted(MATH_FUNCTIONS))
def test_every_function_works_on_arrays_and_scalars(name):
    count = _arity(name)
    arguments = ", ".join(f"a{i}" for i in range(count))
    expression = Expression(f"{name}({arguments})")
    values = {f"a{i}": Y + i for i in range(count)}
    if name == "where":
        values["a0"] = Y > 1
    array_result = expression(values)
    assert np.shape(array_result) == Y.shape
    scalar_result = expression({key: value[3] for key, value in values.items()})
    assert np.ndim(scalar_result) == 0
    np.testing.assert_allclose(scalar_result, array_result[3], rtol=1e-12)


@pytest.mark.parametrize("name", sorted(MATH_FUNCTIONS))
def test_wrong_argument_count_rejected_at_construction(name):
    too_few = ", ".join("x" for _ in range(_arity(name) - 1))
    with pytest.raises(ExpressionError, match=rf"{name}\(\) takes"):
        Expression(f"{name}({too_few})")
    if name not in ("min", "max"):
        too_many = ", ".join("x" for _ in range(_arity(name) + 1))
        with pytest.raises(ExpressionError, match=rf"{name}\(\) takes"):
            Expression(f"{name}({too_many})")


@pytest.mark.parametrize(
    ("name", "scalar_function"),
    [("erf", math.erf), ("erfc", math.erfc), ("gamma", math.gamma), ("lgamma", math.lgamma)],
)
@pytest.mark.parametrize("use_scipy", [True, False])
def test_special_functions(name, scalar_function, use_scipy, monkeypatch):
    monkeypatch.setattr(expressions, "_SPECIAL_CACHE", {})
    if not use_scipy:
        monkeypatch.setitem(sys.modules, "scipy.special", None)  # makes the import fail
    elif pytest.importorskip("scipy.special") is None:  # pragma: no cover
        pytest.skip("scipy unavailable")
    values = np.array([-2.5, -0.3, 0.1, 0.7, 1.5, 4.0])
    result = Expression(f"{name}(x)")(x=values)
    np.testing.assert_allclose(result, [scalar_function(v) for v in values], rtol=1e-10)
    scalar = Expression(f"{name}(x)")(x=0.7)
    assert not isinstance(scalar, np.ndarray)
    assert scalar == pytest.approx(scalar_function(0.7), rel=1e-12)
    assert isinstance(expressions._SPECIAL_CACHE[name], np.ufunc) is use_scipy


def test_special_function_fallback_handles_poles_and_overflow(monkeypatch):
    monkeypatch.setattr(expressions, "_SPECIAL_CACHE", {})
    monkeypatch.setitem(sys.modules, "scipy.special", None)
    assert math.isnan(Expression("gamma(-1)")())
    assert Expression("gamma(1000)")() == math.inf
    assert Expression("lgamma(0)")() == math.inf


def test_user_functions_are_merged_over_defaults():
    def double(x):
        return 2 * x

    expression = Expression("double(sqrt(x))", functions={"double": double})
    assert expression(x=16.0) == 8.0
    assert "sqrt" in expression.functions
    assert expression.functions["double"] is double
    assert "double" not in MATH_FUNCTIONS
    overridden = Expression("sqrt(x)", functions={"sqrt": lambda x: -x})
    assert overridden(x=4.0) == -4.0
    assert MATH_FUNCTIONS["sqrt"] is np.sqrt


def test_user_function_arity_checked_from_signature():
    def two(a, b):
        return a + b

    def many(*args):
        return sum(args)

    Expression("two(1, 2)", functions={"two": two})
    with pytest.raises(ExpressionError, match=r"two\(\)"):
        Expression("two(1)", functions={"two": two})
    assert Expression("many(1, 2, 3, 4)", functions={"many": many})() == 10.0
    with pytest.raises(ExpressionError, match=r"sqrt\(\) takes"):
        Expression("sqrt(1, 2)", functions={"sqrt": np.sqrt, "other": np.add})
    with pytest.raises(ExpressionError, match=r"add\(\) takes"):
        Expression("add(1)", functions={"add": np.add})


def test_user_function_exceptions_propagate():
    def fail(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Expression("fail(1)", functions={"fail": fail})()


def test_non_callable_function_rejected():
    with pytest.raises(TypeError, match="not callable"):
        Expression("f(1)", functions={"f": 3})


def test_calls_of_variables_and_unknown_functions_rejected():
    with pytest.raises(ExpressionError, match=r"'x' is not a known function"):
        Expression("x(1)", names={"x"})
    with pytest.raises(ExpressionError, match=r"'foo' is not a known function"):
        Expression("foo(1)")
    with pytest.raises(ExpressionError, match="named functions"):
        Expression("(sqrt)(x)(1)")


# ----------------------------------------------------------------------------------------------
# Error messages
# ----------------------------------------------------------------------------------------------


def test_error_names_construct_column_source_and_context():
    with pytest.raises(ExpressionError) as info:
        Expression("1 + x.__class__", context="observable 'pt_j1'")
    message = str(info.value)
    assert "observable 'pt_j1'" in message
    assert "'1 + x.__class__'" in message
    assert "'.__class__'" in message
    assert "column 7" in message
    assert message.splitlines()[-2:] == ["    1 + x.__class__", "          ^"]


def test_error_for_unknown_name_points_at_it():
    with pytest.raises(ExpressionError) as info:
        Expression("theta + phi", names={"theta"}, context="parameter 'cHW' param_card_transform")
    message = str(info.value)
    assert "parameter 'cHW' param_card_transform" in message
    assert "'phi'" in message
    assert "column 9" in message
    assert "'theta'" in message


@pytest.mark.parametrize(
    ("source", "fragment", "column"),
    [
        ("x + 'a'", "literal", 5),
        ("sqrt(x) + [1]", "list display", 11),
        ("x + (y := 2)", "assignment expression", 6),
        ("2 * lambda: 1", "lambda", 5),
        ("x & y", "'&' (use 'and')", 1),
        ("x + (a in b)", "'in'", 6),
        ("x + y[0]", "subscripts", 5),
        ("1 + __import__('os')", "'__import__'", 5),
        ("x + sqrt(y, z)", "sqrt() takes 1 argument(s), got 2", 5),
        ("abs(x, key=1)", "keyword arguments", 8),
    ],
)
def test_error_columns(source, fragment, column):
    with pytest.raises(ExpressionError) as info:
        Expression(source)
    message = str(info.value)
    assert fragment in message
    assert f"column {column}" in message
    assert message.splitlines()[-1] == " " * (4 + column - 1) + "^"


def test_syntax_error_has_column_and_caret():
    with pytest.raises(ExpressionError) as info:
        Expression("x + * 2", context="cut 3")
    message = str(info.value)
    assert "invalid syntax" in message
    assert "cut 3" in message
    assert "column 5" in message
    assert message.splitlines()[-2:] == ["    x + * 2", "        ^"]
    assert info.value.__cause__ is None


def test_column_counts_characters_not_bytes():
    with pytest.raises(ExpressionError) as info:
        Expression("éé + x.__class__")
    assert "column 8" in str(info.value)


def test_multiline_error_reports_line():
    with pytest.raises(ExpressionError, match=r"line 2, column 2"):
        Expression("(x +\n 'a')")


# ----------------------------------------------------------------------------------------------
# Dunder methods
# ----------------------------------------------------------------------------------------------


def test_equality_hash_repr_and_str():
    a = Expression("16.52*theta", names={"theta"})
    b = Expression("16.52*theta", names=["theta"], context="other context")
    assert a == b
    assert hash(a) == hash(b)
    assert a != Expression("16.52*theta")
    assert a != Expression("16.52 * theta", names={"theta"})
    assert a != Expression("16.52*theta", names={"theta"}, functions={"f": abs})
    assert Expression("x.pt", attributes={"pt"}) != Expression("x.pt", attributes={"pt", "eta"})
    assert a != "16.52*theta"
    assert len({a, b, Expression("theta")}) == 2
    assert repr(a) == "Expression('16.52*theta', names=['theta'])"
    assert repr(Expression("j[0]", allow_subscripts=True, context="c")) == (
        "Expression('j[0]', allow_subscripts=True, context='c')"
    )
    assert str(a) == "16.52*theta"
    assert a.source == "16.52*theta"


def test_pickle_and_copy_round_trip():
    original = _event_expression("j[0].pt * 2 + x", names={"j", "x"}, context="observable 'o'")
    for clone in (pickle.loads(pickle.dumps(original)), copy.deepcopy(original), copy.copy(original)):
        assert clone == original
        assert clone.context == original.context
        assert clone.names_used == original.names_used
        assert clone(j=JETS, x=1.0) == 241.0


def test_properties():
    expression = Expression("x", names={"x"}, attributes=["pt"], allow_subscripts=True, context="c")
    assert expression.names == frozenset({"x"})
    assert expression.attributes == frozenset({"pt"})
    assert expression.allow_subscripts is True
    assert expression.context == "c"
    assert Expression("x").names is None
    assert Expression("x").attributes == frozenset()


def test_bad_argument_types():
    with pytest.raises(TypeError):
        Expression(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not the string"):
        Expression("theta", names="theta")
    with pytest.raises(TypeError, match="not the string"):
        Expression("x.pt", attributes="pt")


# ----------------------------------------------------------------------------------------------
# Casts: float, int, bool
# ----------------------------------------------------------------------------------------------

CAST_INPUTS = np.array([-2.7, -0.5, -0.0, 0.0, 0.3, 1.0, 2.5, 3.9, 1e300, -7.0])


@pytest.mark.parametrize(("name", "python_cast"), [("float", float), ("int", int), ("bool", bool)])
def test_casts_agree_elementwise_with_python(name, python_cast):
    result = Expression(f"{name}(x)")(x=CAST_INPUTS)
    assert type(result) is np.ndarray and result.dtype == np.float64 and result.shape == CAST_INPUTS.shape
    np.testing.assert_array_equal(result, [float(python_cast(v)) for v in CAST_INPUTS])
    for value in CAST_INPUTS:
        scalar = Expression(f"{name}(x)")(x=float(value))
        assert np.ndim(scalar) == 0 and isinstance(scalar, float)
        assert scalar == float(python_cast(value))


def test_casts_of_booleans_and_integers():
    x, y = np.array([0.1, 2.0, 3.0]), np.array([1.0, 1.0, 5.0])
    np.testing.assert_array_equal(Expression("float(x > y)")(x=x, y=y), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(Expression("int(x > 1 and y > 1)")(x=x, y=y), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(Expression("bool(x > y)")(x=x, y=y), [0.0, 1.0, 0.0])
    counts = np.array([0, 1, 2, 7], dtype=np.int64)
    for name in ("float", "int"):
        result = Expression(f"{name}(n)")(n=counts)
        assert result.dtype == np.float64
        np.testing.assert_array_equal(result, [0.0, 1.0, 2.0, 7.0])
    np.testing.assert_array_equal(Expression("bool(n)")(n=counts), [0.0, 1.0, 1.0, 1.0])
    assert Expression("float(True) + int(-2.7) + bool(0.5)")() == 0.0
    assert Expression("int(7 / 2)")() == 3.0 and Expression("int(-7 / 2)")() == -3.0
    # a cast result is a number: arithmetic and comparisons work on it
    np.testing.assert_array_equal(Expression("2 * float(x > 1) - 1")(x=x), [-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(Expression("int(x) == 2")(x=x), [False, True, False])


def test_casts_of_non_finite_values():
    values = np.array([np.nan, np.inf, -np.inf, 1.5])
    np.testing.assert_array_equal(Expression("float(x)")(x=values), values)
    # int(): Python raises for NaN and +-inf; here they give NaN (masked for a masked input)
    np.testing.assert_array_equal(Expression("int(x)")(x=values), [np.nan, np.nan, np.nan, 1.0])
    assert math.isnan(Expression("int(x)")(x=math.inf))
    # bool(): as Python's bool() and the comparison x != 0: NaN and +-inf are true
    np.testing.assert_array_equal(Expression("bool(x)")(x=values), [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(Expression("bool(x)")(x=values), Expression("x != 0")(x=values))
    assert Expression("bool(x)")(x=math.nan) == float(bool(math.nan)) == 1.0


@pytest.mark.parametrize(
    ("source", "data", "mask"),
    [
        ("float(m)", [None, 2.0, 3.0, None], [True, False, False, True]),
        ("int(m / 2)", [None, 1.0, 1.0, None], [True, False, False, True]),
        ("bool(m - 2)", [None, 0.0, 1.0, None], [True, False, False, True]),
        ("float(m > 2)", [None, 0.0, 1.0, None], [True, False, False, True]),
        ("float(c or m > 2)", [None, 1.0, 1.0, 1.0], [True, False, False, False]),
        ("int(m * (1 / x))", [None, None, None, None], [True, True, True, True]),  # x = 0: m * inf
        ("int(m * (1 / x) - m * (1 / x))", [None, None, None, None], [True, True, True, True]),  # nan
        ("bool(m * (1 / x))", [None, 1.0, 1.0, None], [True, False, False, True]),
        ("float(m) if c else -1", [-1.0, 2.0, -1.0, None], [False, False, False, True]),
    ],
)
def test_casts_keep_masks(source, data, mask):
    result_data, result_mask = _masked_result(source, x=np.zeros(4))
    assert result_mask == mask
    for value, expected, masked in zip(result_data, data, mask, strict=True):
        if not masked:
            assert value == pytest.approx(expected)


def test_casts_of_masked_scalars():
    assert Expression("float(m)")(m=np.ma.masked) is np.ma.masked
    assert Expression("int(m)")(m=np.ma.MaskedArray(np.inf, mask=False)) is np.ma.masked
    assert Expression("bool(m)")(m=np.ma.MaskedArray(2.0, mask=False)) == 1.0


def test_casts_reject_non_numbers():
    with pytest.raises(ExpressionError, match=r"float\(\) takes numbers or booleans, got values of type <U"):
        Expression("float(s)")(s=np.array(["1.5", "2"]))
    with pytest.raises(
        ExpressionError, match=r"int\(\) takes numbers or booleans, got values of type complex"
    ):
        Expression("int(z)")(z=np.array([1 + 2j]))
    with pytest.raises(ExpressionError, match=r"bool\(\) takes .* an object of type FakeCollection"):
        _event_expression("bool(j)")(j=JETS)
    with pytest.raises(ExpressionError, match=r"float\(\) takes .* an object of type list"):
        Expression("float(x)")(x=[[1.0, 2.0], [3.0]])  # jagged


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("float('1.5')", "of type str is not allowed"),
        ("int(x, 2)", "int() takes 1 argument(s), got 2"),
        ("bool()", "bool() takes 1 argument(s), got 0"),
        ("float(x=1)", "keyword arguments are not allowed in the call of float()"),
        ("int(*x)", "starred expression"),
        ("float.__class__", "attribute access '.__class__' is not allowed"),
        ("int.__subclasses__()", "attribute access '.__subclasses__' is not allowed"),
        ("float(x).__class__.__bases__", "attribute access '.__bases__' is not allowed"),
        ("bool.__mro__", "attribute access '.__mro__' is not allowed"),
        ("float.real", "attribute access '.real' is not allowed"),
        ("int(x).conjugate()", "attribute access '.conjugate' is not allowed"),
        ("float.fromhex('0x1p3')", "attribute access '.fromhex' is not allowed"),
        ("__builtins__.float(x)", "attribute access '.float' is not allowed"),
        ("float(__builtins__)", "name '__builtins__' is not allowed"),
        ("float(x)(1)", "only calls of named functions"),
        ("(int)(x)", None),  # parentheses around a name are still a named call
    ],
)
def test_casts_open_nothing_outside_the_vocabulary(source, fragment):
    if fragment is None:
        assert Expression(source)(x=2.5) == 2.0
        return
    with pytest.raises(ExpressionError, match=re.escape(fragment)):
        Expression(source)
    with pytest.raises(ExpressionError):
        _event_expression(source.replace("x", "j[0].pt"))


def test_casts_are_plain_vocabulary_functions_not_builtins():
    for name, builtin in (("float", float), ("int", int), ("bool", bool)):
        assert MATH_FUNCTIONS[name] is not builtin
        assert not isinstance(MATH_FUNCTIONS[name], type)
    # as bare names they are not values: a listed vocabulary has no variable 'float'
    with pytest.raises(ExpressionError, match="'float' is a function: call it"):
        Expression("float", names={"x"})
    # with a user vocabulary they can be replaced like any default
    assert Expression("int(x)", functions={"int": lambda x: x + 1})(x=1.0) == 2.0


def test_casts_in_event_expressions():
    np.testing.assert_array_equal(_event_expression("float(j.pt > 50)")(j=JETS), [1.0, 1.0, 0.0])
    assert _event_expression("float(j[0].eta > j[1].eta)")(j=JETS) == 1.0
    assert _event_expression("int(j[1].eta)")(j=JETS) == -1.0
    assert _event_expression("bool(j[2].pt - 35)")(j=JETS) == 0.0

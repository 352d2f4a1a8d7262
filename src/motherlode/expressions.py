"""Safe, vectorised evaluation of user-written expressions.

Users describe parameter-card transforms (``"16.52*theta"``), cuts on stored observables
(``"pt_j1 > 30 and abs(eta_j1) < 2.5"``) and, later, observables on event collections
(``"j[0].pt + sqrt(met.pt**2)"``) as short strings. MadMiner handed such strings to Python's
built-in evaluator, which executes arbitrary code. This module never does that: a string is
parsed with :func:`ast.parse`, every node of the syntax tree is checked against a small
whitelist, and the tree is turned into a tree of small Python closures that act on whole NumPy
arrays at once.

The vocabulary of an :class:`Expression` is

* numeric and boolean literals (numbers become Python ``float``, so ``9**9**9**9`` is ``inf``
  instead of an enormous integer; subscript indices stay ``int``);
* the constants in :data:`CONSTANTS` (``pi``, ``e``, ``tau``, ``inf``, ``nan``);
* variables: any other identifier, or only the ones listed in ``names``;
* unary ``+ - not ~`` (``~`` is a logical not), binary ``+ - * / // % **``, comparisons
  ``== != < <= > >=`` including chains, ``and``, ``or`` and ``a if c else b`` -- all elementwise
  and without short-circuiting;
* calls ``f(x, ...)`` of the functions in the vocabulary (default :data:`MATH_FUNCTIONS`) with
  positional arguments;
* the casts ``float(x)``, ``int(x)`` and ``bool(x)`` (part of :data:`MATH_FUNCTIONS`), elementwise
  with float64 results, so that ``float(eta1 > eta2)`` or ``int(n > 2)`` give numbers:
  ``float`` converts (``True`` is 1.0); ``int`` truncates toward zero like Python's ``int()``
  (``int(-2.7)`` is -2.0) and, where Python's ``int()`` raises, gives NaN for NaN and +-inf (also
  masked for a masked-array input, i.e. "not parsed" in observables); ``bool`` is 1.0 where
  ``x != 0``, else 0.0, so NaN gives 1.0, as ``bool(nan)`` and ``nan != 0`` do in Python. They are
  functions of the vocabulary like any other: ``float.__class__`` or ``int.real`` are attribute
  accesses and rejected as such;
* optionally ``obj.attr`` and method calls ``obj.attr(x, ...)`` for listed attribute names, and
  ``obj[i]`` for integer literals ``i``;
* optionally (opt-in, off by default) a module-style prefix for the vocabulary, such as ``np.exp(x)``
  or ``np.pi`` (only a spelling of ``exp(x)`` and ``pi``: nothing is imported or looked up), and list
  or tuple displays ``[a, b]``, evaluated by a function the caller supplies (e.g. one that stacks the
  elements into an array).

Operands may be NumPy masked arrays (:class:`numpy.ma.MaskedArray`), whose masks then propagate:
``a if c else b`` and ``where`` use :func:`numpy.ma.where`, and ``and``/``or`` (also comparison
chains) mask an element only where Python's short-circuiting evaluation would have needed a masked
operand (``False and <masked>`` is ``False``, not masked).

Everything else (strings, lambdas, comprehensions, ``:=``, displays, slices, identifiers
starting with ``_`` ...) raises :class:`~motherlode.errors.ExpressionError` when the expression
is constructed.

Examples
--------
>>> import numpy as np
>>> from motherlode.expressions import Expression
>>> transform = Expression("16.52*theta", names={"theta"})
>>> float(transform(theta=0.5))
8.26
>>> cut = Expression("pt_j1 > 30 and abs(eta_j1) < 2.5")
>>> sorted(cut.names_used)
['eta_j1', 'pt_j1']
>>> cut(pt_j1=np.array([20.0, 40.0, 50.0]), eta_j1=np.array([0.0, 1.0, -3.0]))
array([False,  True, False])
>>> Expression("float(x > 1) + int(y)")(x=np.array([0.5, 2.0]), y=np.array([-2.7, 3.9]))
array([-2.,  4.])
>>> Expression("x.__class__")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
motherlode.errors.ExpressionError: invalid expression 'x.__class__': attribute access ... at column 3
    x.__class__
      ^
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from motherlode.errors import ExpressionError

__all__ = ["CONSTANTS", "MATH_FUNCTIONS", "MAX_DEPTH", "MAX_SOURCE_LENGTH", "Expression"]

MAX_SOURCE_LENGTH = 10_000
"""Longest accepted expression source, in characters."""

MAX_DEPTH = 100
"""Deepest accepted nesting of sub-expressions in the syntax tree."""

CONSTANTS: Mapping[str, float] = types.MappingProxyType(
    {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan}
)
"""Named constants usable in every expression (read-only)."""

_Node = Callable[[dict], Any]  # a compiled sub-expression: variables -> value


# ----------------------------------------------------------------------------------------------
# Function vocabulary
# ----------------------------------------------------------------------------------------------


def _zero_dim_to_scalar(value: Any) -> Any:
    """Turn a 0-d NumPy array into a NumPy scalar; leave everything else alone."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def _minimum(*values: Any) -> Any:
    """Elementwise minimum of two or more arguments (NaN propagates)."""
    return functools.reduce(np.minimum, values)


def _maximum(*values: Any) -> Any:
    """Elementwise maximum of two or more arguments (NaN propagates)."""
    return functools.reduce(np.maximum, values)


def _any_masked(*values: Any) -> bool:
    """Whether any of ``values`` is a NumPy masked array."""
    return any(isinstance(value, np.ma.MaskedArray) for value in values)


def _where(condition: Any, a: Any, b: Any) -> Any:
    """Elementwise ``a if condition else b``; scalar inputs give a NumPy scalar.

    With a masked array among the arguments the result is masked where the condition is masked
    or where the chosen branch is masked (:func:`numpy.ma.where`).
    """
    if _any_masked(condition, a, b):
        return _zero_dim_to_scalar(np.ma.where(condition, a, b))
    return _zero_dim_to_scalar(np.where(condition, a, b))


def _masked_logical(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    """``a and b`` (``ufunc`` :func:`numpy.logical_and`) or ``a or b`` (:func:`numpy.logical_or`),
    elementwise, with Python's short-circuit semantics for masks.

    Without masked operands this is just ``ufunc(a, b)``. Otherwise the result is masked where
    ``a`` is masked, or where ``b`` is masked and ``a`` does not decide the result on its own
    (``a`` true for ``and``, false for ``or``).
    """
    if not _any_masked(a, b):
        return ufunc(a, b)
    a_mask, b_mask = np.ma.getmaskarray(a), np.ma.getmaskarray(b)
    a_true = np.asarray(np.ma.getdata(a), dtype=bool)
    value = ufunc(a_true, np.asarray(np.ma.getdata(b), dtype=bool))
    needs_b = a_true if ufunc is np.logical_and else ~a_true
    return np.ma.MaskedArray(value, mask=a_mask | (needs_b & b_mask))


def _round(x: Any) -> Any:
    """Round half to even, elementwise (:func:`numpy.round` with zero decimals)."""
    return np.round(x)


def _cast_operand(name: str, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The numbers of ``x`` for the cast ``name()`` as a float64 array, and its mask (None if
    ``x`` is not a masked array).

    Raises
    ------
    ExpressionError
        If ``x`` does not hold real numbers or booleans (a string, a complex number, an object
        such as a particle, a jagged array).
    """
    mask = np.ma.getmaskarray(x) if isinstance(x, np.ma.MaskedArray) else None
    try:
        array = np.asarray(np.ma.getdata(x))
    except (TypeError, ValueError):
        array = np.empty(0, dtype=object)  # e.g. a jagged array
    if array.dtype.kind not in "biuf":
        what = (
            f"values of type {array.dtype}"
            if array.dtype.kind != "O"
            else f"an object of type {type(x).__name__}, not one number per entry"
        )
        raise ExpressionError(f"{name}() takes numbers or booleans, got {what}")
    return array.astype(np.float64), mask


def _cast_result(values: np.ndarray, mask: np.ndarray | None) -> Any:
    """``values`` with ``mask`` (a masked array) or without (plain); 0-d results become scalars."""
    if mask is None:
        return _zero_dim_to_scalar(values)
    result = np.ma.MaskedArray(values, mask=mask)
    return result[()] if result.ndim == 0 else result


def _float(x: Any) -> Any:
    """``float(x)``, elementwise: the values as float64 (booleans give 1.0/0.0, NaN stays NaN).

    Masked entries stay masked.
    """
    values, mask = _cast_operand("float", x)
    return _cast_result(values, mask)


def _int(x: Any) -> Any:
    """``int(x)``, elementwise: truncation toward zero, as Python's ``int()`` (``int(-2.7)`` is
    ``-2.0``); the values stay float64.

    NaN and +-inf, for which Python's ``int()`` raises, give NaN; when ``x`` is a masked array
    they are masked as well. Masked entries stay masked.
    """
    values, mask = _cast_operand("int", x)
    finite = np.isfinite(values)
    values = np.where(finite, np.trunc(values), np.nan)
    return _cast_result(values, None if mask is None else mask | ~finite)


def _bool(x: Any) -> Any:
    """``bool(x)``, elementwise: 1.0 where ``x != 0``, else 0.0 (float64).

    NaN gives 1.0, as Python's ``bool(nan)`` and the comparison ``nan != 0`` do. Masked entries
    stay masked.
    """
    values, mask = _cast_operand("bool", x)
    return _cast_result((values != 0.0).astype(np.float64), mask)


_SPECIAL_CACHE: dict[str, Callable[[Any], Any]] = {}
_SCIPY_NAMES = {"erf": "erf", "erfc": "erfc", "gamma": "gamma", "lgamma": "gammaln"}
_DOMAIN_ERROR_VALUE = {"erf": math.nan, "erfc": math.nan, "gamma": math.nan, "lgamma": math.inf}


def _vectorised_math(name: str) -> Callable[[Any], Any]:
    """Vectorise the :mod:`math` function ``name`` (used only when SciPy is missing)."""
    scalar_function = getattr(math, name)
    domain_error_value = _DOMAIN_ERROR_VALUE[name]

    def scalar(x: float) -> float:
        try:
            return scalar_function(x)
        except ValueError:
            return domain_error_value
        except OverflowError:
            return math.inf

    vectorised = np.vectorize(scalar, otypes=[float])
    return lambda x: _zero_dim_to_scalar(vectorised(x))


def _special_function(name: str) -> Callable[[Any], Any]:
    """The vectorised special function ``name``: from SciPy if importable, else from :mod:`math`."""
    try:
        return _SPECIAL_CACHE[name]
    except KeyError:
        pass
    try:
        import scipy.special

        function = getattr(scipy.special, _SCIPY_NAMES[name])
    except ImportError:
        function = _vectorised_math(name)
    _SPECIAL_CACHE[name] = function
    return function


def _erf(x: Any) -> Any:
    """Error function, elementwise."""
    return _special_function("erf")(x)


def _erfc(x: Any) -> Any:
    """Complementary error function, elementwise."""
    return _special_function("erfc")(x)


def _gamma(x: Any) -> Any:
    """Gamma function, elementwise."""
    return _special_function("gamma")(x)


def _lgamma(x: Any) -> Any:
    """Logarithm of the absolute value of the gamma function, elementwise."""
    return _special_function("lgamma")(x)


_UFUNCS: dict[str, np.ufunc] = {
    "sqrt": np.sqrt,
    "exp": np.exp,
    "expm1": np.expm1,
    "log": np.log,
    "log10": np.log10,
    "log1p": np.log1p,
    "log2": np.log2,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "atan2": np.arctan2,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "abs": np.absolute,
    "fabs": np.fabs,
    "ceil": np.ceil,
    "floor": np.floor,
    "trunc": np.trunc,
    "sign": np.sign,
    "hypot": np.hypot,
    "fmod": np.fmod,
    "copysign": np.copysign,
    "pow": np.power,
    "degrees": np.degrees,
    "radians": np.radians,
    "isnan": np.isnan,
    "isinf": np.isinf,
    "isfinite": np.isfinite,
}

_OTHER_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    # name: (function, minimum number of arguments, maximum number or None for unbounded)
    "round": (_round, 1, 1),
    "min": (_minimum, 2, None),
    "max": (_maximum, 2, None),
    "where": (_where, 3, 3),
    "clip": (np.clip, 3, 3),
    "float": (_float, 1, 1),
    "int": (_int, 1, 1),
    "bool": (_bool, 1, 1),
    "erf": (_erf, 1, 1),
    "erfc": (_erfc, 1, 1),
    "gamma": (_gamma, 1, 1),
    "lgamma": (_lgamma, 1, 1),
}

MATH_FUNCTIONS: Mapping[str, Callable[..., Any]] = types.MappingProxyType(
    {**_UFUNCS, **{name: entry[0] for name, entry in _OTHER_FUNCTIONS.items()}}
)
"""Default function vocabulary (read-only): NumPy-vectorised versions of the :mod:`math` names
MadMiner offered (without ``factorial``, ``frexp``, ``fsum``, ``ldexp``, ``modf``), plus ``abs``,
``log2``, ``sign``, ``round``, ``isfinite``, ``min``/``max`` (elementwise, two or more arguments),
``where(cond, a, b)``, ``clip(x, lo, hi)`` and the casts ``float``, ``int`` and ``bool``
(elementwise, float64 results: ``float(x)`` converts, ``int(x)`` truncates toward zero and gives
NaN for NaN and +-inf, ``bool(x)`` is 1.0 where ``x != 0`` and 0.0 elsewhere, 1.0 for NaN; masked
entries stay masked). ``erf``, ``erfc``, ``gamma`` and ``lgamma`` come from :mod:`scipy.special`
when SciPy is importable (imported on first use)."""

_BUILTIN_ARITY: dict[str, tuple[int, int | None]] = {
    **{name: (ufunc.nin, ufunc.nin) for name, ufunc in _UFUNCS.items()},
    **{name: (entry[1], entry[2]) for name, entry in _OTHER_FUNCTIONS.items()},
}


def _arity_problem(name: str, function: Callable[..., Any], count: int) -> str | None:
    """Describe why ``function`` cannot take ``count`` positional arguments, or None if it can
    (or if that cannot be known)."""
    if MATH_FUNCTIONS.get(name) is function:
        low, high = _BUILTIN_ARITY[name]
    elif isinstance(function, np.ufunc):
        low = high = function.nin
    else:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return None
        try:
            signature.bind(*range(count))
        except TypeError as error:
            return f"{name}() cannot take {count} positional argument(s): {error}"
        return None
    if low <= count and (high is None or count <= high):
        return None
    if high is None:
        expected = f"at least {low}"
    elif low == high:
        expected = str(low)
    else:
        expected = f"{low} to {high}"
    return f"{name}() takes {expected} argument(s), got {count}"


# ----------------------------------------------------------------------------------------------
# Node tables
# ----------------------------------------------------------------------------------------------


def _numeric(value: Any) -> Any:
    """``value`` with booleans as the numbers 0.0 and 1.0 (arrays, masked arrays and scalars)."""
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, np.ndarray) and value.dtype == np.bool_:
        return value.astype(np.float64)
    return value


_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.UAdd: np.positive,
    ast.USub: np.negative,
    ast.Not: np.logical_not,
    ast.Invert: np.logical_not,
}

_BINARY: dict[type, np.ufunc] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.remainder,
    ast.Pow: np.power,
}

_REJECTED_BINARY = {
    ast.BitAnd: "'&' (use 'and')",
    ast.BitOr: "'|' (use 'or')",
    ast.BitXor: "'^' (use '**' for powers)",
    ast.LShift: "'<<'",
    ast.RShift: "'>>'",
    ast.MatMult: "'@'",
}

_COMPARE: dict[type, np.ufunc] = {
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}

_REJECTED_COMPARE = {ast.Is: "'is'", ast.IsNot: "'is not'", ast.In: "'in'", ast.NotIn: "'not in'"}

_CONSTRUCT_NAMES = {
    "Lambda": "lambda",
    "ListComp": "list comprehension",
    "SetComp": "set comprehension",
    "DictComp": "dict comprehension",
    "GeneratorExp": "generator expression",
    "JoinedStr": "f-string",
    "FormattedValue": "f-string",
    "NamedExpr": "assignment expression ':='",
    "Starred": "starred expression",
    "Dict": "dict display",
    "Set": "set display",
    "List": "list display",
    "Tuple": "tuple",
    "Slice": "slice",
    "Await": "await",
    "Yield": "yield",
    "YieldFrom": "yield from",
}


# ----------------------------------------------------------------------------------------------
# Error formatting
# ----------------------------------------------------------------------------------------------


def _shorten(text: str, limit: int = 120) -> str:
    """``repr(text)``, cut in the middle if longer than ``limit`` characters."""
    if len(text) <= limit:
        return repr(text)
    half = limit // 2
    return repr(text[:half]) + " ... " + repr(text[-half:])


def _list_names(names: Iterable[str], limit: int = 30) -> str:
    """Sorted, quoted, comma-separated names; at most ``limit`` of them."""
    ordered = sorted(names)
    shown = ", ".join(repr(name) for name in ordered[:limit])
    if len(ordered) > limit:
        shown += f", ... ({len(ordered) - limit} more)"
    return shown or "(none)"


def _caret(text: str, line: int, column: int, width: int = 100) -> str:
    """The 1-based ``line`` of ``text`` with a caret under the 0-based character ``column``,
    windowed to about ``width`` characters around the column."""
    lines = text.splitlines() or [""]
    shown = lines[min(max(line, 1), len(lines)) - 1]
    start = max(0, column - width // 2)
    prefix = "..." if start > 0 else ""
    end = start + width
    suffix = "..." if end < len(shown) else ""
    window = shown[start:end]
    return f"    {prefix}{window}{suffix}\n    {' ' * (len(prefix) + column - start)}^"


def _character_column(text: str, line: int, byte_offset: int) -> int:
    """Convert the UTF-8 byte offset that :mod:`ast` reports into a character offset."""
    lines = text.splitlines() or [""]
    encoded = lines[min(max(line, 1), len(lines)) - 1].encode("utf-8")
    return len(encoded[:byte_offset].decode("utf-8", errors="ignore"))


# ----------------------------------------------------------------------------------------------
# Compiler: syntax tree -> tree of closures
# ----------------------------------------------------------------------------------------------


class _Builder:
    """Validate a syntax tree and turn it into closures; records the variables it reads."""

    def __init__(
        self,
        text: str,
        header: str,
        names: frozenset[str] | None,
        functions: Mapping[str, Callable[..., Any]],
        attributes: frozenset[str],
        allow_subscripts: bool,
        modules: frozenset[str] = frozenset(),
        list_display: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        self.text = text
        self.header = header
        self.names = names
        self.functions = functions
        self.attributes = attributes
        self.allow_subscripts = allow_subscripts
        self.modules = modules
        self.list_display = list_display
        self.used: set[str] = set()

    def fail(self, node: ast.AST, problem: str) -> ExpressionError:
        """An :class:`ExpressionError` describing ``problem`` at the position of ``node`` (for an
        attribute access, at the position of the attribute name)."""
        if isinstance(node, ast.Attribute) and node.end_lineno is not None:
            line = node.end_lineno
            byte_offset = (node.end_col_offset or 0) - len(node.attr.encode("utf-8"))
        else:
            line, byte_offset = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        column = _character_column(self.text, line, byte_offset)
        where = f"line {line}, column {column + 1}" if "\n" in self.text else f"column {column + 1}"
        return ExpressionError(f"{self.header}: {problem} at {where}\n{_caret(self.text, line, column)}")

    def check_depth(self, root: ast.AST) -> None:
        """Reject trees with sub-expressions nested deeper than :data:`MAX_DEPTH` (iteratively, so
        that a deep tree cannot exhaust the interpreter stack)."""
        stack = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise self.fail(node, f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
            for child in ast.iter_child_nodes(node):
                stack.append((child, depth + 1 if isinstance(child, ast.expr) else depth))

    def build(self, node: ast.AST) -> _Node:
        """Compile ``node``, or raise :class:`ExpressionError` if it is not allowed."""
        method = getattr(self, f"build_{type(node).__name__}", None)
        if method is None:
            kind = type(node).__name__
            raise self.fail(node, f"{_CONSTRUCT_NAMES.get(kind, kind)} is not allowed")
        return method(node)

    def check_identifier(self, node: ast.AST, identifier: str) -> None:
        """Reject identifiers that start with an underscore (dunders and private names)."""
        if identifier.startswith("_"):
            raise self.fail(node, f"name {identifier!r} is not allowed (names starting with '_' never are)")

    def build_Constant(self, node: ast.Constant) -> _Node:
        value = node.value
        if isinstance(value, bool):
            return lambda variables: value
        if isinstance(value, (int, float)):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            return lambda variables: number
        raise self.fail(
            node, f"literal {_shorten(repr(value), 40)} of type {type(value).__name__} is not allowed"
        )

    def build_Name(self, node: ast.Name) -> _Node:
        identifier = node.id
        self.check_identifier(node, identifier)
        if identifier in self.modules:
            raise self.fail(
                node, f"{identifier!r} can only prefix a function or constant, as in '{identifier}.exp(x)'"
            )
        if self.names is not None and identifier in self.names:
            return self.variable(identifier)
        if identifier in CONSTANTS:
            constant = CONSTANTS[identifier]
            return lambda variables: constant
        if self.names is None:
            return self.variable(identifier)
        hint = f" ({identifier!r} is a function: call it)" if identifier in self.functions else ""
        raise self.fail(
            node,
            f"unknown name {identifier!r}{hint}; allowed names are {_list_names(self.names)}"
            " (plus functions and constants)",
        )

    def variable(self, identifier: str) -> _Node:
        self.used.add(identifier)
        return lambda variables: variables[identifier]

    def build_UnaryOp(self, node: ast.UnaryOp) -> _Node:
        ufunc = _UNARY[type(node.op)]
        operand = self.build(node.operand)
        if isinstance(node.op, (ast.UAdd, ast.USub)):  # -True is -1, as in Python
            return lambda variables: ufunc(_numeric(operand(variables)))
        return lambda variables: ufunc(operand(variables))

    def build_BinOp(self, node: ast.BinOp) -> _Node:
        operator = type(node.op)
        if operator not in _BINARY:
            raise self.fail(
                node, f"operator {_REJECTED_BINARY.get(operator, operator.__name__)} is not allowed"
            )
        ufunc = _BINARY[operator]
        left, right = self.build(node.left), self.build(node.right)
        # booleans count as 0 and 1, as in Python: (a > 1) + (b > 1) is 2 where both hold (NumPy's
        # bool + bool would be a logical or, and bool - bool an error)
        return lambda variables: ufunc(_numeric(left(variables)), _numeric(right(variables)))

    def build_BoolOp(self, node: ast.BoolOp) -> _Node:
        ufunc = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        operands = [self.build(value) for value in node.values]
        return lambda variables: functools.reduce(
            functools.partial(_masked_logical, ufunc), [operand(variables) for operand in operands]
        )

    def build_Compare(self, node: ast.Compare) -> _Node:
        ufuncs = []
        for operator in node.ops:
            if type(operator) not in _COMPARE:
                raise self.fail(
                    node, f"comparison {_REJECTED_COMPARE.get(type(operator), '?')} is not allowed"
                )
            ufuncs.append(_COMPARE[type(operator)])
        operands = [self.build(node.left)] + [self.build(value) for value in node.comparators]
        if len(ufuncs) == 1:
            (ufunc,), (left, right) = ufuncs, operands
            return lambda variables: ufunc(left(variables), right(variables))

        def chain(variables: dict) -> Any:
            values = [operand(variables) for operand in operands]
            results = [ufunc(a, b) for ufunc, a, b in zip(ufuncs, values[:-1], values[1:], strict=True)]
            return functools.reduce(functools.partial(_masked_logical, np.logical_and), results)

        return chain

    def build_IfExp(self, node: ast.IfExp) -> _Node:
        test, body, orelse = self.build(node.test), self.build(node.body), self.build(node.orelse)
        return lambda variables: _where(test(variables), body(variables), orelse(variables))

    def module_prefix(self, node: ast.AST) -> str | None:
        """The module prefix of ``node`` if it is ``module.name`` for a listed module, else None."""
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.modules
        ):
            return node.value.id
        return None

    def build_Call(self, node: ast.Call) -> _Node:
        prefix = self.module_prefix(node.func)
        if isinstance(node.func, ast.Attribute) and prefix is None:
            return self.build_method_call(node, node.func)
        if not isinstance(node.func, (ast.Name, ast.Attribute)):
            methods = " and of listed methods such as 'obj.name(y)'" if self.attributes else ""
            raise self.fail(node, f"only calls of named functions such as 'sqrt(x)'{methods} are allowed")
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        self.check_identifier(node.func, name)
        if name not in self.functions:
            raise self.fail(
                node,
                f"{name!r} is not a known function; known functions are "
                f"{_list_names(self.functions, limit=100)}",
            )
        if node.keywords:
            raise self.fail(node.keywords[0], f"keyword arguments are not allowed in the call of {name}()")
        arguments = [self.build(argument) for argument in node.args]  # rejects *args
        problem = _arity_problem(name, self.functions[name], len(arguments))
        if problem is not None:
            raise self.fail(node, problem)
        function = self.functions[name]
        return lambda variables: function(*[argument(variables) for argument in arguments])

    def build_method_call(self, node: ast.Call, function: ast.Attribute) -> _Node:
        """Compile ``obj.name(x, ...)``: ``name`` must be an allowed attribute; positional arguments
        only. Evaluation calls ``getattr(obj, name)(x, ...)``."""
        self.check_attribute(function)
        name = function.attr
        if node.keywords:
            raise self.fail(node.keywords[0], f"keyword arguments are not allowed in the call of .{name}()")
        value = self.build(function.value)
        arguments = [self.build(argument) for argument in node.args]  # rejects *args
        return lambda variables: getattr(value(variables), name)(
            *[argument(variables) for argument in arguments]
        )

    def build_Attribute(self, node: ast.Attribute) -> _Node:
        prefix = self.module_prefix(node)
        if prefix is not None:
            return self.build_module_constant(node, prefix)
        self.check_attribute(node)
        attribute = node.attr
        value = self.build(node.value)
        return lambda variables: getattr(value(variables), attribute)

    def build_module_constant(self, node: ast.Attribute, prefix: str) -> _Node:
        """Compile ``module.name`` for a listed module: ``name`` must be one of :data:`CONSTANTS`."""
        name = node.attr
        self.check_identifier(node, name)
        if name in CONSTANTS:
            constant = CONSTANTS[name]
            return lambda variables: constant
        hint = f" ('{prefix}.{name}' is a function: call it)" if name in self.functions else ""
        known = _list_names(CONSTANTS)
        raise self.fail(node, f"'{prefix}.{name}' is not a known constant{hint}; known constants are {known}")

    def build_List(self, node: ast.List | ast.Tuple) -> _Node:
        if self.list_display is None:
            kind = "list display" if isinstance(node, ast.List) else "tuple"
            raise self.fail(node, f"{kind} is not allowed")
        elements = [self.build(element) for element in node.elts]  # rejects starred elements
        display = self.list_display
        return lambda variables: display([element(variables) for element in elements])

    build_Tuple = build_List

    def check_attribute(self, node: ast.Attribute) -> None:
        """Reject ``obj.attr`` unless ``attr`` is an allowed attribute (never names starting with ``_``)."""
        attribute = node.attr
        if attribute.startswith("_"):
            raise self.fail(
                node, f"attribute access '.{attribute}' is not allowed (never for names starting with '_')"
            )
        if attribute not in self.attributes:
            allowed = (
                f"allowed attributes are {_list_names(self.attributes)}"
                if self.attributes
                else "no attributes are allowed here"
            )
            raise self.fail(node, f"attribute access '.{attribute}' is not allowed; {allowed}")

    def build_Subscript(self, node: ast.Subscript) -> _Node:
        if not self.allow_subscripts:
            raise self.fail(node, "subscripts 'x[i]' are not allowed here")
        index = self.integer_literal(node.slice)
        if index is None:
            raise self.fail(node.slice, "a subscript index must be an integer literal such as 0 or -1")
        value = self.build(node.value)
        return lambda variables: value(variables)[index]

    @staticmethod
    def integer_literal(node: ast.AST) -> int | None:
        """The value of ``node`` if it is an integer literal like ``2`` or ``-1``, else None."""
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, node = -1, node.operand
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return sign * node.value
        return None


# ----------------------------------------------------------------------------------------------
# Public class
# ----------------------------------------------------------------------------------------------


def _as_name_set(values: Iterable[str] | None, what: str) -> frozenset[str] | None:
    """Check an iterable of names and freeze it; None stays None."""
    if values is None:
        return None
    if isinstance(values, str):
        raise TypeError(f"{what} must be an iterable of strings, not the string {values!r}")
    frozen = frozenset(values)
    for value in frozen:
        if not isinstance(value, str):
            raise TypeError(f"{what} must contain strings, got {value!r}")
    return frozen


def _rebuild(arguments: dict[str, Any]) -> Expression:
    """Recreate a pickled :class:`Expression` from its constructor arguments."""
    keywords = dict(arguments)
    source, names = keywords.pop("source"), keywords.pop("names")
    return Expression(source, names, **keywords)


class Expression:
    r"""A safe, vectorised expression such as ``"pt_j1 > 30 and abs(eta_j1) < 2.5"``.

    The source is parsed and checked once, at construction; evaluation then only runs NumPy
    operations on the values supplied for its variables.

    Parameters
    ----------
    source
        The expression, Python syntax restricted to the vocabulary described in
        :mod:`motherlode.expressions`. Surrounding whitespace is ignored.
    names
        The variable names the expression may read. ``None`` (default) allows any identifier that
        is not a constant; the values are then looked up at evaluation. Listed names take
        precedence over :data:`CONSTANTS` (a variable ``e`` hides Euler's number).
    functions
        Extra callables, merged over :data:`MATH_FUNCTIONS` (an entry with an existing name
        replaces that default; the other defaults stay available). They are called with
        positional arguments only.
    attributes
        Attribute names allowed in ``obj.attr`` and in method calls ``obj.attr(x, ...)`` (evaluated
        as ``getattr(obj, attr)(x, ...)``, positional arguments only); by default attribute access
        is rejected. Names starting with ``_`` are always rejected, even when listed.
    allow_subscripts
        Whether ``obj[i]`` is allowed; ``i`` must be an integer literal such as ``0`` or ``-1``.
        Evaluation delegates to ``obj.__getitem__``, whose exceptions propagate unchanged.
    context
        Optional description used in error messages, e.g. ``"observable 'pt_j1'"``.
    modules
        Opt-in: names such as ``"np"`` that may prefix the functions and constants of the
        vocabulary, so that ``np.exp(x)`` means ``exp(x)`` and ``np.pi`` means ``pi``. The prefix
        is only a spelling; nothing is imported or looked up, and a bare ``np`` is rejected.
        Default: none.
    list_display
        Opt-in: when given, list and tuple displays ``[a, b, ...]`` (no starred elements) are
        allowed and evaluate to ``list_display([a, b, ...])``, called with the list of evaluated
        elements (for instance a function that stacks them into an array). Default None: displays
        are rejected.

    Raises
    ------
    ExpressionError
        If the source is not valid syntax, uses anything outside the vocabulary, is longer than
        :data:`MAX_SOURCE_LENGTH` characters or nests deeper than :data:`MAX_DEPTH` levels. The
        message names the source, the context, the offending construct and its (1-based) column.

    Notes
    -----
    Every operation acts elementwise on NumPy arrays (broadcasting as NumPy does): ``and``,
    ``or``, ``not`` and ``~`` are :func:`numpy.logical_and` / ``logical_or`` / ``logical_not``,
    ``a if c else b`` is :func:`numpy.where`, comparison chains are combined with ``and``.
    Nothing short-circuits: all operands are always evaluated. Numeric literals are floats.
    Masked arrays keep their masks throughout (:func:`numpy.ma.where` for ``a if c else b``;
    ``and``/``or`` mask only where short-circuiting Python would have needed a masked operand).
    Evaluation ignores floating-point errors, so ``1/0`` is ``inf`` and ``0/0`` is ``nan``.
    With scalar inputs the result is a NumPy scalar (e.g. :class:`numpy.float64`, a subclass of
    :class:`float`), or a Python ``float``/``bool`` for an expression without variables and
    calls.

    Examples
    --------
    >>> Expression("theta")(theta=0.5)
    0.5
    >>> print(Expression("x**2 if x > 0 else -x")(x=-3.0))
    3.0
    >>> Expression("min(x, y, 2)")(x=np.array([1.0, 5.0]), y=np.array([3.0, 0.0]))
    array([1., 0.])
    >>> Expression("0 < x < 1")({"x": np.array([-0.5, 0.5, 1.5])})
    array([False,  True, False])

    A restricted vocabulary, with attributes and subscripts:

    >>> class Particles:
    ...     def __init__(self, pt):
    ...         self.pt = np.asarray(pt)
    ...     def __getitem__(self, i):
    ...         return Particles(self.pt[i])
    >>> lead = Expression("j[0].pt + j[-1].pt", names={"j"}, attributes={"pt"}, allow_subscripts=True)
    >>> print(lead(j=Particles([50.0, 30.0, 20.0])))
    70.0
    >>> Expression("y", names={"x"}, context="observable 'o'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    motherlode.errors.ExpressionError: observable 'o': invalid expression 'y': unknown name 'y'; ... column 1
        y
        ^
    """

    __slots__ = (
        "_allow_subscripts",
        "_attributes",
        "_context",
        "_extra_functions",
        "_functions",
        "_list_display",
        "_modules",
        "_names",
        "_names_used",
        "_root",
        "_source",
    )

    def __init__(
        self,
        source: str,
        names: Iterable[str] | None = None,
        *,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        attributes: Iterable[str] | None = None,
        allow_subscripts: bool = False,
        context: str | None = None,
        modules: Iterable[str] | None = None,
        list_display: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        if not isinstance(source, str):
            raise TypeError(f"an expression must be a string, got {type(source).__name__}")
        extra = dict(functions or {})
        for name, function in extra.items():
            if not callable(function):
                raise TypeError(f"function {name!r} of the expression vocabulary is not callable")
        self._source = source
        self._names = _as_name_set(names, "names")
        self._attributes = _as_name_set(attributes, "attributes") or frozenset()
        self._allow_subscripts = bool(allow_subscripts)
        self._context = context
        self._modules = _as_name_set(modules, "modules") or frozenset()
        if list_display is not None and not callable(list_display):
            raise TypeError("list_display must be callable or None")
        self._list_display = list_display
        self._extra_functions = extra
        self._functions = types.MappingProxyType({**MATH_FUNCTIONS, **extra})
        self._root, self._names_used = self._build()

    def _build(self) -> tuple[_Node, frozenset[str]]:
        """Parse, validate and compile the source."""
        header = f"invalid expression {_shorten(self._source)}"
        if self._context:
            header = f"{self._context}: {header}"
        if len(self._source) > MAX_SOURCE_LENGTH:
            raise ExpressionError(
                f"{header}: expression is too long ({len(self._source)} characters, at most "
                f"{MAX_SOURCE_LENGTH} are allowed)"
            )
        text = self._source.strip()
        if not text:
            raise ExpressionError(f"{header}: expression is empty")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as error:
            line, offset = error.lineno or 1, max((error.offset or 1) - 1, 0)
            where = f"line {line}, column {offset + 1}" if "\n" in text else f"column {offset + 1}"
            raise ExpressionError(
                f"{header}: invalid syntax ({error.msg}) at {where}\n{_caret(text, line, offset)}"
            ) from None
        except (ValueError, RecursionError, MemoryError) as error:
            problem = "is nested too deeply" if not isinstance(error, ValueError) else f"is invalid ({error})"
            raise ExpressionError(f"{header}: expression {problem}") from None
        builder = _Builder(
            text,
            header,
            self._names,
            self._functions,
            self._attributes,
            self._allow_subscripts,
            self._modules,
            self._list_display,
        )
        builder.check_depth(tree.body)
        root = builder.build(tree.body)
        return root, frozenset(builder.used)

    # -- properties ------------------------------------------------------------------------

    @property
    def source(self) -> str:
        """The original text of the expression."""
        return self._source

    @property
    def names_used(self) -> frozenset[str]:
        """The variable names the expression reads (not functions or constants).

        Examples
        --------
        >>> sorted(Expression("sqrt(px**2 + py**2) * pi").names_used)
        ['px', 'py']
        """
        return self._names_used

    @property
    def names(self) -> frozenset[str] | None:
        """The allowed variable names, or None if any identifier is allowed."""
        return self._names

    @property
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        """The function vocabulary (read-only): :data:`MATH_FUNCTIONS` merged with the extras."""
        return self._functions

    @property
    def attributes(self) -> frozenset[str]:
        """The attribute names allowed in ``obj.attr``."""
        return self._attributes

    @property
    def allow_subscripts(self) -> bool:
        """Whether ``obj[i]`` with an integer literal ``i`` is allowed."""
        return self._allow_subscripts

    @property
    def modules(self) -> frozenset[str]:
        """The names that may prefix functions and constants (``np`` in ``np.exp(x)``)."""
        return self._modules

    @property
    def list_display(self) -> Callable[[list[Any]], Any] | None:
        """The function that evaluates list and tuple displays, or None if they are rejected."""
        return self._list_display

    @property
    def context(self) -> str | None:
        """The description used in error messages, if any."""
        return self._context

    # -- evaluation --------------------------------------------------------------------------

    def __call__(self, namespace: Mapping[str, Any] | None = None, /, **values: Any) -> Any:
        """Evaluate the expression.

        Parameters
        ----------
        namespace
            Mapping from variable names to values (scalars, NumPy arrays or any objects the
            operations accept). Only the names in :attr:`names_used` are looked up.
        **values
            More variables; they take precedence over ``namespace``.

        Returns
        -------
        Any
            The value, usually a NumPy array or scalar.

        Raises
        ------
        ExpressionError
            If a variable the expression reads is provided by neither argument; the message
            names it and lists the provided names.

        Examples
        --------
        >>> cut = Expression("abs(eta) < 2.5")
        >>> cut({"eta": np.array([1.0, -3.0])})
        array([ True, False])
        >>> cut({"pt": 1.0}, phi=0.0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        motherlode.errors.ExpressionError: expression ... reads variable 'eta', ...; provided: 'phi', 'pt'
        """
        variables = self._bind(namespace, values)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._root(variables)

    def evaluate(self, namespace: Mapping[str, Any] | None = None, /, **values: Any) -> Any:
        """Evaluate the expression; the same as calling it (see :meth:`__call__`).

        Examples
        --------
        >>> print(Expression("1/x").evaluate(x=0.0))
        inf
        """
        return self(namespace, **values)

    def _bind(self, namespace: Mapping[str, Any] | None, values: Mapping[str, Any]) -> dict[str, Any]:
        """Collect the value of every variable the expression reads."""
        variables = {}
        missing = []
        for name in self._names_used:
            if name in values:
                variables[name] = values[name]
                continue
            if namespace is not None:
                try:
                    variables[name] = namespace[name]
                    continue
                except KeyError:
                    pass
            missing.append(name)
        if missing:
            raise self._missing(sorted(missing), namespace, values)
        return variables

    def _missing(
        self, missing: list[str], namespace: Mapping[str, Any] | None, values: Mapping[str, Any]
    ) -> ExpressionError:
        """The error for variables that were not provided."""
        provided = set(values)
        keys = getattr(namespace, "keys", None)
        if callable(keys):
            provided.update(key for key in keys() if isinstance(key, str))
        prefix = f"{self._context}: " if self._context else ""
        what = (
            f"variable {missing[0]!r}, which was"
            if len(missing) == 1
            else f"variables {_list_names(missing)}, which were"
        )
        return ExpressionError(
            f"{prefix}expression {_shorten(self._source)} reads {what} not provided; "
            f"provided: {_list_names(provided)}"
        )

    # -- dunder methods ----------------------------------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        return (
            self._source,
            self._names,
            self._attributes,
            self._allow_subscripts,
            self._modules,
            self._list_display,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self._key() == other._key() and dict(self._functions) == dict(other._functions)

    def __hash__(self) -> int:
        return hash((*self._key(), frozenset(self._functions)))

    def __repr__(self) -> str:
        parts = [repr(self._source)]
        if self._names is not None:
            parts.append(f"names={sorted(self._names)!r}")
        if self._extra_functions:
            parts.append(f"functions={sorted(self._extra_functions)!r}")
        if self._attributes:
            parts.append(f"attributes={sorted(self._attributes)!r}")
        if self._allow_subscripts:
            parts.append("allow_subscripts=True")
        if self._context is not None:
            parts.append(f"context={self._context!r}")
        if self._modules:
            parts.append(f"modules={sorted(self._modules)!r}")
        if self._list_display is not None:
            parts.append(f"list_display={getattr(self._list_display, '__name__', self._list_display)}")
        return f"Expression({', '.join(parts)})"

    def __str__(self) -> str:
        return self._source

    def __reduce__(self) -> tuple[Any, ...]:
        arguments: dict[str, Any] = {
            "source": self._source,
            "names": self._names,
            "functions": self._extra_functions or None,
            "attributes": self._attributes or None,
            "allow_subscripts": self._allow_subscripts,
            "context": self._context,
        }
        if self._modules:
            arguments["modules"] = self._modules
        if self._list_display is not None:
            arguments["list_display"] = self._list_display
        return (_rebuild, (arguments,))

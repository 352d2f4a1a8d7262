"""MadMiner 0.9.6's public API, name by name, in motherlode.

``tests/data/madminer096/api.json`` is MadMiner 0.9.6 introspected in its own environment (by
``make_api.py`` there): every public module, class, function and method with its parameters and
defaults. For each entry this test checks that motherlode has the same name at the same import
path, and that a call written for MadMiner binds the same way here:

* every MadMiner parameter exists under the same name; positional ones at the same position;
* where MadMiner has a default, motherlode has the same one (compared by ``repr``);
* parameters that motherlode adds have defaults (or are keyword-only with defaults), so they never
  change the meaning of a MadMiner call.

Names of stages that are not built yet are placeholders (:mod:`motherlode.pending`): they must
import, and their signature checks are expected failures naming the feature (strict, so that they
turn into errors to clean up when the stage lands). Deliberate differences are listed below in
``INTENDED_DIFFERENCES`` with their reasons, and in docs/differences.md.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
from pathlib import Path

import pytest

from conftest import MADMINER_FILES
from motherlode.pending import pending_feature

API = json.loads((MADMINER_FILES / "api.json").read_text())
DIFFERENCES_DOC = Path(__file__).parents[1] / "docs" / "differences.md"

#: Deliberate differences from MadMiner's signatures: "madminer.path.Name.method" (the whole
#: callable) or "madminer.path.Name.method(argument)" (one argument) -> the reason.
INTENDED_DIFFERENCES: dict[str, str] = {
    "madminer.lhe.lhe_reader.LHEReader.add_cut(required)": (
        "MadMiner's documentation calls the second argument pass_if_not_parsed, its 0.9.6 code calls it "
        "required: the documented name is the positional argument here and required a keyword alias, so "
        "add_cut(d, True), add_cut(d, pass_if_not_parsed=True) and add_cut(d, required=True) all work"
    ),
    "madminer.delphes.delphes_reader.DelphesReader.add_cut(required)": (
        "as LHEReader.add_cut: the documented pass_if_not_parsed is positional, 0.9.6's required a keyword "
        "alias (both readers share one add_cut)"
    ),
    "madminer.lhe.lhe_reader.LHEReader.add_efficiency(default)": (
        "the documentation calls it value_if_not_parsed, the 0.9.6 code default: the documented name is "
        "positional here and default a keyword alias"
    ),
    **{
        f"madminer.ml.{module}.{cls}.train(initial_lr)": (
            "initial_lr defaults to 0.005 instead of 0.001: at 0.001 the networks are still under-trained "
            "after 50 epochs (on the tutorial toy the error of log r falls by 2-4x for five of the six "
            "ratio methods); initial_lr=0.001 gives MadMiner's schedule"
        )
        for module, cls in (
            ("parameterized_ratio", "ParameterizedRatioEstimator"),
            ("double_parameterized_ratio", "DoubleParameterizedRatioEstimator"),
            ("score", "ScoreEstimator"),
        )
    },
    "madminer.sampling.combine.combine_and_shuffle(recalculate_header)": (
        "the documented signature has overwrite_existing_file before recalculate_header (0.9.6's code lacks "
        "it); motherlode follows the documentation, so a fourth positional argument means "
        "overwrite_existing_file"
    ),
}


def _ours(madminer_path: str) -> str:
    return "motherlode" + madminer_path.removeprefix("madminer")


def _resolve(path: str):
    """Import ``module.Name[.attribute]`` (longest importable module prefix)."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(path)


def _definition(entry: dict) -> dict:
    """The class/function record behind a re-export."""
    while entry["kind"] == "reexport":
        module, name = entry["of"].rsplit(".", 1)
        entry = API["modules"][module]["names"][name]
    return entry


NAMES = [(module, name) for module, record in API["modules"].items() for name in record["names"]]
CALLABLES = []  # (madminer path, parameter tokens)
for _module, _record in API["modules"].items():
    for _name, _entry in _record["names"].items():
        if _entry["kind"] == "function":
            CALLABLES.append((f"{_module}.{_name}", _entry["parameters"]))
        elif _entry["kind"] == "class":
            if _entry["init"] is not None:
                CALLABLES.append((f"{_module}.{_name}.__init__", _entry["init"]))
            for _method, _info in _entry["methods"].items():
                # a classmethod looked up on the class is bound: drop MadMiner's ``cls``
                _tokens = _info["parameters"][1:] if _info["kind"] == "classmethod" else _info["parameters"]
                CALLABLES.append((f"{_module}.{_name}.{_method}", _tokens))


@pytest.mark.parametrize(("module", "name"), NAMES, ids=[f"{m}.{n}" for m, n in NAMES])
def test_name_imports_from_the_same_path(module, name):
    """``from madminer.x import Name`` works as ``from motherlode.x import Name`` (placeholders included)."""
    ours = importlib.import_module(_ours(module))
    assert hasattr(ours, name), f"{_ours(module)} has no {name}"
    entry = _definition(API["modules"][module]["names"][name])
    obj = getattr(ours, name)
    if entry["kind"] == "class":
        assert inspect.isclass(obj), f"{_ours(module)}.{name} is not a class"
    elif entry["kind"] == "function":
        assert callable(obj), f"{_ours(module)}.{name} is not callable"


def _parse(tokens: list[str]) -> tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]]:
    """MadMiner's parameter tokens -> (positional, keyword-only) lists of (name, default repr or None)."""
    positional: list[tuple[str, str | None]] = []
    keyword_only: list[tuple[str, str | None]] = []
    target = positional
    for token in tokens:
        if token.startswith("**"):
            continue
        if token.startswith("*"):
            target = keyword_only
            continue
        name, _, default = token.partition("=")
        target.append((name, default if "=" in token else None))
    return positional, keyword_only


def incompatibilities(tokens: list[str], function) -> list[tuple[str, str]]:
    """Ways in which a call written for MadMiner's signature ``tokens`` would bind differently to
    ``function``, as (argument name, problem) pairs."""
    signature = inspect.signature(function)
    ours = list(signature.parameters.values())
    by_name = signature.parameters
    positional, keyword_only = _parse(tokens)
    problems: list[tuple[str, str]] = []
    for index, (name, _default) in enumerate(positional):
        if name not in by_name:
            problems.append((name, f"missing argument {name!r}"))
            continue
        parameter = by_name[name]
        if index >= len(ours) or ours[index].name != name or parameter.kind is parameter.KEYWORD_ONLY:
            problems.append((name, f"argument {name!r} is not at position {index}"))
    for name, _default in keyword_only:
        if name not in by_name:
            problems.append((name, f"missing keyword argument {name!r}"))
    for name, default in positional + keyword_only:
        if name not in by_name or default is None:
            continue
        parameter = by_name[name]
        if parameter.default is inspect.Parameter.empty:
            problems.append((name, f"argument {name!r} has no default (MadMiner: {default})"))
        elif repr(parameter.default) != default:
            problems.append(
                (name, f"argument {name!r} defaults to {parameter.default!r} (MadMiner: {default})")
            )
    if any(token.startswith("*") and token != "*" for token in tokens):
        return problems  # MadMiner takes *args/**kwargs here: it promises nothing about further arguments
    theirs = {name for name, _ in positional + keyword_only}
    for parameter in ours:
        if parameter.name in theirs or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is inspect.Parameter.empty:
            problems.append((parameter.name, f"added argument {parameter.name!r} has no default"))
    return problems


def _owner_and_callable(path: str):
    """Our object for a MadMiner callable path, and the placeholder feature if any part of it is pending."""
    module_path, _, attribute = path.rpartition(".")
    owner = None
    with contextlib.suppress(ImportError, AttributeError):
        owner = _resolve(_ours(module_path))
    feature = pending_feature(owner) if owner is not None else None
    obj = getattr(owner, attribute, None) if owner is not None else None
    if obj is not None and feature is None:
        feature = pending_feature(obj)
    return obj, feature


def _callable_param(path, tokens):
    marks = []
    _, feature = _owner_and_callable(path)
    if feature is not None:
        marks.append(pytest.mark.xfail(reason=f"not built yet: {feature.name}", strict=True))
    return pytest.param(path, tokens, id=path, marks=marks)


@pytest.mark.parametrize(("path", "tokens"), [_callable_param(p, t) for p, t in CALLABLES])
def test_signature_is_compatible(path, tokens):
    if path in INTENDED_DIFFERENCES:
        pytest.skip(f"intended difference: {INTENDED_DIFFERENCES[path]}")
    function, feature = _owner_and_callable(path)
    assert feature is None, f"{path} is a placeholder for {feature.name}"
    assert function is not None, f"{_ours(path)} does not exist"
    problems = [
        problem
        for argument, problem in incompatibilities(tokens, function)
        if f"{path}({argument})" not in INTENDED_DIFFERENCES
    ]
    assert not problems, f"{_ours(path)}: " + "; ".join(problems)


def _documented_name(key: str) -> str:
    """``Class.method`` for a method, ``function`` for a module function."""
    *_, owner, name = key.split("(")[0].split(".")
    return f"{owner}.{name}" if owner[:1].isupper() else name


def test_intended_differences_are_documented():
    """Every deliberate signature difference appears in docs/differences.md (as ``Class.method``)."""
    text = DIFFERENCES_DOC.read_text()
    missing = [key for key in INTENDED_DIFFERENCES if _documented_name(key) not in text]
    assert not missing, f"not in docs/differences.md: {missing}"


def test_top_level_exports_every_madminer_name_and_subpackage():
    """``from madminer import *`` names, and ``madminer.<subpackage>`` attributes, work on ``motherlode``."""
    import motherlode

    theirs = set(API["modules"]["madminer"]["names"])
    assert theirs <= set(motherlode.__all__)
    for name in theirs:  # what ``from motherlode import *`` does: every name of __all__ resolves
        assert getattr(motherlode, name) is not None
    subpackages = {module.split(".")[1] for module in API["modules"] if module.count(".") >= 1}
    for name in subpackages:
        assert getattr(motherlode, name).__name__ == f"motherlode.{name}"


def test_import_motherlode_does_not_import_torch():
    """The top-level names load on first use: ``import motherlode`` and its readers stay quick."""
    import subprocess
    import sys

    code = "import sys, motherlode; from motherlode import MadMiner, LHEReader; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

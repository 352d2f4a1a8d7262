#!/usr/bin/env python
"""Record MadMiner 0.9.6's public API as JSON, for motherlode's API-parity test.

Run from the repository root with the interpreter that has madminer==0.9.6 (``scripts/run-tests``
makes one in ``.venv-madminer``)::

    .venv-madminer/bin/python tests/data/madminer096/make_api.py

Writes ``api.json`` next to this script: for every public module, its public names; for each
function and method its parameters (name, kind, default); for each class its bases, its public
methods (inherited ones included, since users call them on the class they hold), its properties,
and its dataclass fields or enum members.

What counts as public:

* the modules MadMiner's documentation describes (every package of ``madminer`` and its modules),
  ``madminer.models`` (scripts import ``Observable``, ``NuisanceParameter``, ...), and the
  ``madminer.utils`` modules that tests and tutorials import (``morphing``, ``various``, ``histo``,
  ``particle``);
* in a package ``__init__``: every name it re-exports; in a module: the classes and functions
  defined in it (not the ones it imports), and the constants and type aliases it assigns;
* not: ``madminer.utils.interfaces.*`` (the HDF5, LHE, Delphes and MadGraph plumbing behind the
  public classes) and ``madminer.utils.ml.*`` (the torch models and trainers behind the estimators).
  Nothing in MadMiner's documentation, tutorials or user scripts calls them, except the one HDF5
  test, which ``tests/test_madminer_ported.py`` reimplements through the public API.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import json
import pkgutil
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

EXCLUDED_PREFIXES = ("madminer.utils.interfaces", "madminer.utils.ml")
UTILS_MODULES = (
    "madminer.utils.morphing",
    "madminer.utils.various",
    "madminer.utils.histo",
    "madminer.utils.particle",
)


def public_modules() -> list[str]:
    import madminer

    names = ["madminer"]
    for info in pkgutil.walk_packages(madminer.__path__, prefix="madminer."):
        name = info.name
        if name.startswith(EXCLUDED_PREFIXES) or name.split(".")[-1].startswith("_"):
            continue
        if name.startswith("madminer.utils.") and name not in UTILS_MODULES:
            continue
        names.append(name)
    return sorted(names)


def describe_signature(function) -> list[str] | None:
    """Parameters as ``name``, ``name=<repr of default>``, ``*args``, ``**kwargs``, and ``*`` before
    keyword-only ones."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    tokens: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            tokens.append(f"*{parameter.name}")
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            tokens.append(f"**{parameter.name}")
            continue
        if parameter.kind is parameter.KEYWORD_ONLY and not any(t.startswith("*") for t in tokens):
            tokens.append("*")
        if parameter.default is inspect.Parameter.empty:
            tokens.append(parameter.name)
        else:
            tokens.append(f"{parameter.name}={parameter.default!r}")
    return tokens


def describe_class(cls) -> dict:
    entry: dict = {
        "kind": "class",
        "bases": [f"{base.__module__}.{base.__qualname__}" for base in cls.__bases__],
        "init": describe_signature(cls.__init__) if "__init__" in _all_dicts(cls) else None,
        "methods": {},
        "properties": [],
    }
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        attribute = inspect.getattr_static(cls, name)
        owner = next((k for k in cls.__mro__ if name in k.__dict__), None)
        if owner is None or not owner.__module__.startswith("madminer"):
            continue  # inherited from object, Enum, ...
        if isinstance(attribute, property):
            entry["properties"].append(name)
        elif isinstance(attribute, (staticmethod, classmethod)) or inspect.isfunction(attribute):
            function = attribute.__func__ if isinstance(attribute, (staticmethod, classmethod)) else attribute
            kind = (
                "staticmethod"
                if isinstance(attribute, staticmethod)
                else "classmethod"
                if isinstance(attribute, classmethod)
                else "method"
            )
            entry["methods"][name] = {"kind": kind, "parameters": describe_signature(function)}
    if dataclasses.is_dataclass(cls):
        entry["dataclass_fields"] = [f.name for f in dataclasses.fields(cls)]
    if issubclass(cls, enum.Enum):
        entry["enum_members"] = {member.name: _jsonable(member.value) for member in cls}
    return entry


def _all_dicts(cls) -> dict:
    merged: dict = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("madminer"):
            merged.update(klass.__dict__)
    return merged


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def describe_object(obj, module_name: str, modules: list[str]) -> dict:
    defined_in = getattr(obj, "__module__", None)
    if (
        (inspect.isclass(obj) or inspect.isfunction(obj))
        and defined_in != module_name
        and defined_in in modules
    ):
        return {"kind": "reexport", "of": f"{defined_in}.{obj.__qualname__}"}
    if inspect.isclass(obj):
        return describe_class(obj)
    if inspect.isfunction(obj):
        return {"kind": "function", "parameters": describe_signature(obj)}
    if inspect.ismodule(obj):
        return {"kind": "module", "module": obj.__name__}
    return {"kind": "value", "repr": repr(obj)[:200]}


def top_level_assignments(module) -> set[str]:
    """Names a module assigns at its top level (constants and type aliases it defines, not imports)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except OSError:  # an empty __init__.py
        return set()
    names: set[str] = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def module_public_names(module) -> dict[str, object]:
    is_package = hasattr(module, "__path__")
    assigned = top_level_assignments(module)
    names: dict[str, object] = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue  # subpackages and modules are recorded as modules of their own
        if is_package:
            names[name] = obj  # everything a package __init__ re-exports
        elif (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(
            obj, "__module__", None
        ) == module.__name__:
            names[name] = obj
        elif name in assigned and name != "logger":
            names[name] = (
                obj  # constants and type aliases defined here, e.g. models.systematics.SystematicValue
            )
    return dict(sorted(names.items()))


STRING_LIST = re.compile(r'\[\s*(?:"(?:[^"\\]|\\.)*"\s*,?\s*)*\]')


def _one_line(match: re.Match) -> str:
    """A JSON list of strings (a signature), written on one line."""
    return json.dumps(json.loads(match.group(0)))


def main() -> None:
    import madminer
    import numpy
    import torch

    api: dict = {
        "madminer_version": getattr(madminer, "__version__", "0.9.6"),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "excluded_module_prefixes": list(EXCLUDED_PREFIXES),
        "modules": {},
    }
    modules = public_modules()
    for module_name in modules:
        module = importlib.import_module(module_name)
        names = module_public_names(module)
        api["modules"][module_name] = {
            "package": hasattr(module, "__path__"),
            "names": {name: describe_object(obj, module_name, modules) for name, obj in names.items()},
        }
    out = HERE / "api.json"
    text = json.dumps(api, indent=1, sort_keys=True)
    text = STRING_LIST.sub(_one_line, text)
    out.write_text(text + "\n")
    n_names = sum(len(m["names"]) for m in api["modules"].values())
    print(f"wrote {out}: {len(api['modules'])} modules, {n_names} public names")


if __name__ == "__main__":
    main()

"""Step ``report``: the numbers and plots of the run in one page -> ``report.md`` and ``report.html``.

The report is built as a list of blocks (headings, paragraphs, tables, images) and written as
Markdown and, optionally, as a self-contained-looking HTML page (images are linked, not embedded).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..._version import __version__
from ...analysis import DataAnalyzer
from ...fileformat import atomic_write_text
from ..context import StepContext

__all__ = ["inputs", "run"]

_RESULTS = ("fisher_information.json", "limits.json", "manifest.json")


@dataclass
class _Block:
    kind: str  # "h1", "h2", "p", "table", "markdown" (a note, as written), "image"
    content: Any


def inputs(context: StepContext) -> list[Path]:
    """The events file, the result files of the earlier steps, and the plots."""
    files = [context.events_file()] if _has_events(context) else []
    files += [context.output / name for name in _RESULTS[:2] if (context.output / name).exists()]
    notes = context.config.report.notes if context.config.report else []
    return files + [context.output / note for note in notes] + sorted((context.output / "plots").glob("*"))


def run(context: StepContext) -> None:
    """Write ``report.md`` (and ``report.html``)."""
    report = context.config.report
    assert report is not None
    blocks = [_Block("h1", report.title)]
    if report.description:
        blocks.append(_Block("p", " ".join(report.description.split())))
    blocks.append(_Block("p", _preamble(context)))
    blocks += _events(context)
    blocks += _steps(context)
    blocks += _fisher_information(context)
    blocks += _limits(context)
    blocks += [_Block("markdown", (context.output / note).read_text()) for note in report.notes]
    blocks += _plots(context)
    atomic_write_text(context.staging / "report.md", _markdown(blocks))
    if report.html:
        atomic_write_text(context.staging / "report.html", _html(report.title, blocks))


def _has_events(context: StepContext) -> bool:
    return context.config.events is not None or context.config.inputs.events is not None


def _preamble(context: StepContext) -> str:
    config = context.config
    return f"motherlode {__version__}; random_state {config.random_state}, device {config.device}."


def _events(context: StepContext) -> list[_Block]:
    """The events file: its events and the cross section after the selection at each benchmark."""
    if not _has_events(context):
        return []
    analyzer = DataAnalyzer(context.events_file(), include_nuisance_parameters=False)
    xsecs, errors = analyzer.xsecs(thetas=None, include_nuisance_benchmarks=False)
    names = list(analyzer.benchmarks)  # the physics benchmarks (nuisance ones left out above)
    rows = [[name, *(str(v) for v in _benchmark_values(analyzer, name)), f"{1e3 * x:.4g} +- {1e3 * e:.2g}"]
            for name, x, e in zip(names, xsecs, errors, strict=True)]  # fmt: skip
    text = (
        f"`{context.events_file().name}`: {analyzer.n_samples} events after the selection, "
        f"{len(analyzer.observables)} observables ({', '.join(analyzer.observables)}). Cross sections "
        "at the benchmarks (signal and background, after the selection):"
    )
    header = ["benchmark", *analyzer.parameters, "cross section [fb]"]
    return [_Block("h2", "Events"), _Block("p", text), _Block("table", (header, rows))]


def _benchmark_values(analyzer: DataAnalyzer, name: str) -> list[float]:
    values = analyzer.benchmarks[name].values
    return [round(float(values[parameter]), 6) for parameter in analyzer.parameters]


def _steps(context: StepContext) -> list[_Block]:
    path = context.output / "manifest.json"
    if not path.exists():
        return []
    steps = json.loads(path.read_text()).get("steps", {})
    rows = [[name, f"{entry['seconds']:.1f}", _shortened(entry["outputs"])] for name, entry in steps.items()]
    return [_Block("h2", "Steps"), _Block("table", (["step", "seconds", "outputs"], rows))]


def _shortened(names: list[str], shown: int = 4) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _fisher_information(context: StepContext) -> list[_Block]:
    path = context.output / "fisher_information.json"
    if not path.exists():
        return []
    document = json.loads(path.read_text())
    parameters = document["parameters"]
    header = ["method", *(f"sigma({p})" for p in parameters), "sqrt(det I)"]
    rows = []
    for name, entry in document["information"].items():
        matrix = np.asarray(entry["matrix"])
        errors = _errors(matrix)
        rows.append(
            [name, *(_number(e) for e in errors), _number(float(np.sqrt(max(np.linalg.det(matrix), 0.0))))]
        )
    text = (
        f"At theta = {document['theta']}, luminosity {document['luminosity']:g} pb^-1: the expected 1-sigma "
        "error of each parameter (the others profiled), sqrt of the diagonal of the inverse information; "
        "inf where the information is singular (the rate alone constrains one direction only)."
    )
    return [_Block("h2", "Fisher information"), _Block("p", text), _Block("table", (header, rows))]


def _errors(matrix: np.ndarray) -> list[float]:
    if np.linalg.cond(matrix) > 1e12:
        return [float("inf")] * len(matrix)
    return [float(np.sqrt(max(v, 0.0))) for v in np.diag(np.linalg.inv(matrix))]


def _limits(context: StepContext) -> list[_Block]:
    path = context.output / "limits.json"
    if not path.exists():
        return []
    document = json.loads(path.read_text())
    header = [
        "analysis",
        "best fit",
        "p at theta_true",
        "theta_true in 68 %",
        "in 95 %",
        "95 % region / grid",
    ]
    rows = [
        [name, str([round(v, 4) for v in entry["best_fit"]]), _number(entry["p_value_at_theta_true"]),
         "yes" if entry["theta_true_in_68"] else "no", "yes" if entry["theta_true_in_95"] else "no",
         f"{100 * entry['grid_share_95']:.1f} %"]
        for name, entry in document["analyses"].items()
    ]  # fmt: skip
    text = (
        f"Expected limits at theta_true = {document['theta_true']}, luminosity {document['luminosity']:g} "
        f"pb^-1, grid {document['grid_ranges']} ({document['grid_resolutions']} points per axis); "
        "a smaller 95 % region is a stronger analysis."
    )
    return [_Block("h2", "Limits"), _Block("p", text), _Block("table", (header, rows))]


def _plots(context: StepContext) -> list[_Block]:
    images = sorted((context.output / "plots").glob("*"))
    if not images:
        return []
    return [_Block("h2", "Plots")] + [_Block("image", f"plots/{image.name}") for image in images]


def _number(value: float) -> str:
    return "inf" if not np.isfinite(value) else f"{value:.4g}"


def _markdown(blocks: list[_Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if block.kind == "h1":
            lines += [f"# {block.content}", ""]
        elif block.kind == "h2":
            lines += [f"## {block.content}", ""]
        elif block.kind == "p":
            lines += [block.content, ""]
        elif block.kind == "table":
            header, rows = block.content
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif block.kind == "markdown":
            lines += [block.content.rstrip(), ""]
        else:
            lines += [f"![{Path(block.content).stem}]({block.content})", ""]
    return "\n".join(lines)


def _html(title: str, blocks: list[_Block]) -> str:
    body: list[str] = []
    for block in blocks:
        if block.kind in ("h1", "h2"):
            body.append(f"<{block.kind}>{html.escape(block.content)}</{block.kind}>")
        elif block.kind == "p":
            body.append(f"<p>{html.escape(block.content)}</p>")
        elif block.kind == "markdown":  # shown as written (no Markdown renderer is needed)
            body.append(f"<pre>{html.escape(block.content)}</pre>")
        elif block.kind == "table":
            header, rows = block.content
            cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
            body.append(f"<table><tr>{cells}</tr>")
            for row in rows:
                body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
            body.append("</table>")
        else:
            source = html.escape(block.content)
            body.append(
                f'<figure><img src="{source}" alt="{source}"><figcaption>{source}</figcaption></figure>'
            )
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.2em .6em;text-align:right}"
        "img{max-width:100%}"
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )

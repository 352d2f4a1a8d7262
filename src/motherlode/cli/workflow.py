"""``motherlode run`` and ``motherlode init``: workflows from YAML files."""

from __future__ import annotations

from pathlib import Path

import click

from ..fileformat import atomic_write_text
from ..workflow import STEPS, StepResult, Workflow, template
from ._errors import UsageFailure, user_errors


def report_results(results: list[StepResult], output: Path) -> None:
    """One line per step, then where the outputs are."""
    for result in results:
        what = f"{result.seconds:.1f} s" if result.status == "ran" else "unchanged"
        click.echo(f"  {result.step:<20} {result.status:<8} {what}")
    report = output / "report.md"
    click.echo(f"outputs in {output}" + (f"; report: {report}" if report.exists() else ""))


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: the config's `output`).")  # fmt: skip
@click.option("--steps", default=None, help=f"Comma-separated subset of the steps: {', '.join(STEPS)}.")
@click.option("--force", is_flag=True, help="Rerun the steps even if their inputs are unchanged.")
def run(config: Path, output: Path | None, steps: str | None, force: bool) -> None:
    """Run the workflow CONFIG (YAML): its sections of the chain, skipping unchanged steps."""
    with user_errors():
        workflow = Workflow.from_file(config, output)
        selected = None if steps is None else [s.strip() for s in steps.split(",") if s.strip()]
        report_results(workflow.run(steps=selected, force=force), workflow.output)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=Path("workflow.yaml"))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented template workflow to PATH (default workflow.yaml)."""
    if path.exists() and not force:
        raise UsageFailure(f"{path} exists: choose another name or pass --force")
    atomic_write_text(path, template())
    click.echo(f"wrote {path}: edit it, then `motherlode run {path}`")

"""``motherlode example``: run a built-in analysis end to end into one folder."""

from __future__ import annotations

from pathlib import Path

import click

from ..examples import EXAMPLES, example_workflow
from ._errors import user_errors
from .workflow import report_results


@click.command()
@click.argument("name", type=click.Choice(sorted(EXAMPLES)), default="wh")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("motherlode-example"),
              show_default=True, help="Folder of every artefact (nothing is written elsewhere).")  # fmt: skip
@click.option("--quick", is_flag=True, help="Fewer samples, epochs and grid points (about a minute).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where networks train (auto: CUDA when present).")  # fmt: skip
@click.option("--force", is_flag=True, help="Rerun every step, even those whose inputs are unchanged.")
def example(name: str, out: Path, quick: bool, device: str, force: bool) -> None:
    """Run the built-in example NAME: wh (real SMEFT W h events, the whole chain) or toy (learned
    against exact limits). The report is OUT/report.md (and report.html)."""
    with user_errors():
        workflow = example_workflow(name, out, quick=quick, device=device)
        click.echo(f"motherlode example {name}{' (quick)' if quick else ''}: {EXAMPLES[name]}")
        report_results(workflow.run(force=force), workflow.output)

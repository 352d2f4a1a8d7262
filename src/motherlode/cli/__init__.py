"""The ``motherlode`` command: ``example``, ``run`` and ``init`` (one module per command).

The commands are thin: they parse arguments, set up logging and progress bars, and call the
public API (:mod:`motherlode.examples`, :mod:`motherlode.workflow`). Errors in the user's input
(a bad config field, a missing file) end the command with their message and exit status 2;
anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import logging

import click

from .._version import __version__
from ..progress import set_progress_bars
from .example import example
from .workflow import init, run

__all__ = ["cli", "main"]

#: Subpackages whose INFO messages only ``-v`` shows (the workflow's step lines are enough).
_CHATTY = ("analysis", "core", "fisherinformation", "lhe", "limits", "ml", "sampling", "selection")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="motherlode")
@click.option("-v", "--verbose", count=True, help="More log messages (-vv: debugging).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars (default: on when standard error is a terminal).",
)
def cli(verbose: int, quiet: bool, progress: bool | None) -> None:
    """Machine-learning-based inference for particle physics."""
    level = logging.WARNING if quiet else (logging.INFO if verbose < 2 else logging.DEBUG)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("motherlode")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    if verbose == 0 and not quiet:
        # the steps' own summaries are enough by default
        for chatty in _CHATTY:
            logging.getLogger(f"motherlode.{chatty}").setLevel(logging.WARNING)
    set_progress_bars(progress)


cli.add_command(example)
cli.add_command(run)
cli.add_command(init)


def main() -> None:
    """Entry point of the ``motherlode`` console script and ``python -m motherlode``."""
    cli(prog_name="motherlode")

"""Input errors as clean command-line errors (message, exit status 2), everything else unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from ..errors import InputError


class UsageFailure(click.ClickException):
    """An error in the user's input: printed without a traceback, exit status 2."""

    exit_code = 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`~motherlode.errors.InputError` (bad configs, missing files) into clean exits."""
    try:
        yield
    except InputError as error:
        raise UsageFailure(str(error)) from None

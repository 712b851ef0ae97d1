"""``CommandError``: how a command stops with a message and an exit code.

Exit codes: 0 done; 1 the call failed (the server's status and message, or a hint when the
server cannot be reached); 2 a usage error or malformed input (nothing was sent); 130
interrupted.
"""

from __future__ import annotations

import click

__all__ = ["CommandError", "bad_input"]


class CommandError(Exception):
    """A failure printed as is on stderr (one line per problem), with its exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def show(self) -> None:
        click.echo(self.message, err=True)


def bad_input(message: str) -> CommandError:
    """Input that cannot be used as given: ``error: ...``, exit code 2, nothing sent."""
    return CommandError(f"error: {message}", 2)

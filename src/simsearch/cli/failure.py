"""``CommandError``: how a command stops with a message and an exit code.

Exit codes: 0 done; 1 the call failed (the server's status and message, or a hint when the
server cannot be reached); 2 a usage error or malformed input (nothing was sent); 130
interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from simsearch.client.rpc import ServerUnreachableError
from simsearch.errors import SimsearchError
from simsearch.wire import code_for

__all__ = ["CommandError", "bad_input", "failure_line", "status_prefix", "stopped_partway"]


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


def status_prefix(error: SimsearchError) -> str:
    """``NOT_FOUND: `` for mapped errors; unmapped codes already lead their message."""
    if type(error) is SimsearchError:
        return ""
    return f"{code_for(error).name}: "


def failure_line(error: SimsearchError) -> str:
    """How a failed call is told: ``error: NOT_FOUND: <the server's message>``."""
    return f"error: {status_prefix(error)}{error}"


@contextmanager
def stopped_partway(stopped: Callable[[str], str]) -> Iterator[None]:
    """For a command that writes as results stream in: an interrupt (exit 130) or a failed
    call (exit 1) ends it with ``stopped(why)``, which says what was written and how to go
    on; an unreachable server is left to the connection's own message."""
    try:
        yield
    except KeyboardInterrupt:
        raise CommandError(stopped("interrupted"), 130) from None
    except ServerUnreachableError:
        raise
    except SimsearchError as exc:
        raise CommandError(stopped(failure_line(exc))) from None

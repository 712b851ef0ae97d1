"""The options every client command takes (server address, deadline, ``--json``, API key and
TLS), and the client they open.

They are accepted before the command's name and after it (``simsearch --json info`` and
``simsearch info --json``): the group and each command declare the same options, and a value
given after the name wins. A server's failure becomes one line on stderr and exit code 1.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from simsearch.cli.failure import CommandError, bad_input, failure_line
from simsearch.cli.options import stacked
from simsearch.client.client import Client
from simsearch.client.rpc import ServerUnreachableError
from simsearch.config import ADDRESS_ENV, API_KEY_ENV, DEFAULT_ADDRESS, client_api_key
from simsearch.errors import SimsearchError

__all__ = ["Connection", "connection_options", "open_client", "with_client"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Connection:
    """The connection and output options, as given (None: not given)."""

    address: str | None = None
    timeout: float | None = None
    json: bool | None = None
    api_key_file: Path | None = None
    tls: bool | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def updated(self, other: Connection) -> Connection:
        """These options with those given in ``other`` on top."""
        given = {k: v for k, v in dataclasses.asdict(other).items() if v is not None}
        return dataclasses.replace(self, **given)


def connection_options(*, main: bool) -> Callable[[F], F]:
    """The options, on the main group (``main``: with the defaults) or on a command."""

    def default(value: object) -> object:
        return value if main else None

    options = [
        click.option(
            "--address",
            metavar="HOST:PORT",
            default=default(DEFAULT_ADDRESS),
            envvar=ADDRESS_ENV if main else None,
            show_envvar=main,
            help=f"server address [default: {DEFAULT_ADDRESS}]" if main else "server address",
        ),
        click.option(
            "--timeout",
            metavar="SECONDS",
            type=click.FloatRange(min=0),
            default=default(60.0),
            help="deadline of each call; 0 waits forever [default: 60]",
        ),
        click.option(
            "--json",
            is_flag=True,
            default=default(False),
            help="print one JSON document on stdout instead of text",
        ),
        click.option(
            "--api-key-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"file holding the API key to send [default: ${API_KEY_ENV}, the key itself]",
        ),
        click.option(
            "--tls",
            is_flag=True,
            default=default(False),
            help="use TLS, trusting the system's CAs (implied by --tls-ca/--tls-cert)",
        ),
        click.option(
            "--tls-ca",
            metavar="PEM",
            type=click.Path(path_type=Path),
            help="CA certificate that signed the server's certificate",
        ),
        click.option(
            "--tls-cert",
            metavar="PEM",
            type=click.Path(path_type=Path),
            help="client certificate, for mutual TLS",
        ),
        click.option(
            "--tls-key", metavar="PEM", type=click.Path(path_type=Path), help="key of --tls-cert"
        ),
    ]
    return stacked(options)


def _api_key(path: Path | None) -> str | None:
    """The key in ``path`` (surrounding whitespace dropped), else the environment's, else None.

    The key itself is never an option: a command line shows in ``ps`` and shell history."""
    if path is None:
        return client_api_key()
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise bad_input(
            f"--api-key-file: cannot read the file ({exc.__class__.__name__}); give the path "
            f"of a file holding the key, or set ${API_KEY_ENV}"
        ) from None
    if not key:
        raise bad_input("--api-key-file: the file is empty")
    return key


@contextmanager
def open_client(connection: Connection) -> Iterator[Client]:
    """A client for the options; the errors of its calls become ``CommandError``."""
    address = connection.address or DEFAULT_ADDRESS
    timeout = connection.timeout
    try:
        with Client(
            address,
            timeout=timeout if timeout is not None and 0 < timeout < math.inf else None,
            api_key=_api_key(connection.api_key_file),
            tls=bool(connection.tls),
            tls_ca=connection.tls_ca,
            tls_cert=connection.tls_cert,
            tls_key=connection.tls_key,
        ) as client:
            yield client
    except ServerUnreachableError:
        raise CommandError(
            f"error: cannot reach simsearch at {address}: is `simsearch serve` running?"
        ) from None
    except SimsearchError as exc:
        raise CommandError(failure_line(exc)) from None


_CONNECTION_FIELDS = tuple(field.name for field in dataclasses.fields(Connection))


def with_client(function: Callable[..., None]) -> Callable[..., None]:
    """Give a command the connection options and call it as ``function(client, as_json,
    **its own parameters)``, the options given after its name on top of those before it."""

    @functools.wraps(function)
    def command(**params: Any) -> None:
        given = Connection(**{name: params.pop(name) for name in _CONNECTION_FIELDS})
        before = click.get_current_context().find_object(Connection) or Connection()
        connection = before.updated(given)
        with open_client(connection) as client:
            function(client, bool(connection.json), **params)

    return connection_options(main=False)(command)

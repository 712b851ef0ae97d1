"""Names the security tests share with their fixtures (``tests/security/conftest.py``).

``KEYS`` holds a read and a write key (the ``keys_file`` fixture writes them to a keys file);
``WRONG_KEY`` is neither. ``REPORT`` collects the tables the tests print (the access matrix, the
TLS outcomes, the load figures), shown at the end of the run under "simsearch security report".
``StartServer`` is the type of the ``start_server`` fixture.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from simsearch.server import RunningServer

__all__ = ["KEYS", "REPORT", "WRONG_KEY", "StartServer"]

KEYS = {"read": secrets.token_urlsafe(24), "write": secrets.token_urlsafe(24)}
WRONG_KEY = secrets.token_urlsafe(24)

StartServer = Callable[..., RunningServer]
REPORT: dict[str, list[str]] = {}

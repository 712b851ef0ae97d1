"""The ``simsearch`` command: ``serve`` runs the server, every other command is a client call.

The server half is imported only for ``serve``, so client commands start fast and work on a
machine without torch or faiss.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "serve":
        from simsearch.server.cli import main as serve_main

        return serve_main(args[1:])
    from simsearch.client.cli import main as client_main

    return client_main(args)


if __name__ == "__main__":
    raise SystemExit(main())

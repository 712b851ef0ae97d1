"""The ``simsearch`` command: ``serve`` runs the server, every other command is a client call.

Built on click (options, help, environment twins) and rich (tables, progress bars). The
server half is imported only when ``serve`` runs, so client commands start fast and work on a
machine without torch or faiss. ``main(argv)`` runs one command and returns its exit code.
"""

from simsearch.cli.root import main

__all__ = ["main"]

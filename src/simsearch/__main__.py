"""``python -m simsearch``: the same as the ``simsearch`` command."""

from simsearch.cli import main

raise SystemExit(main())

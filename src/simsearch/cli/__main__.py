"""``python -m simsearch.cli``: the same as the ``simsearch`` command."""

from simsearch.cli.root import main

raise SystemExit(main())

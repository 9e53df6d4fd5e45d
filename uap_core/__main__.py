"""``python -m uap_core ...``: see ``uap_core/cli.py``."""

from .cli import main

raise SystemExit(main())

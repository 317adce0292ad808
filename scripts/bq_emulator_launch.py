"""Start bqemulator without DuckDB's spatial extension (run by scripts/bq-emulator.sh, inside the
emulator's own venv).

The emulator loads `spatial` at start, and DuckDB downloads extensions from its own site, which
this machine cannot reach; without the extension everything but GEOGRAPHY works.
"""

import sys

from bqemulator.storage import engine

engine.DuckDBEngine._load_spatial = lambda self, *args, **kwargs: None

from bqemulator.cli import main  # after the patch above, which must come first

sys.exit(main())

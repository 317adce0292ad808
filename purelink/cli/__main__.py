"""`python -m purelink.cli` is the `purelink` command."""

import sys

from purelink.cli import main

sys.exit(main())

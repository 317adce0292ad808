"""`python -m purelink.sandbox` is `purelink sandbox`."""

import sys

from purelink.cli import module_main

sys.exit(module_main("sandbox"))

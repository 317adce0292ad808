"""Where the files shipped beside the code are: the recipe library (`recipes/`) and the data the
sandbox and the examples serve (`data/`).

They live at the top of the repository, where a reader of the checkout finds them; a wheel carries
the same folders inside the package as `purelink/_shipped/recipes` and `purelink/_shipped/data`
(setup.py copies them when it builds). This module finds whichever of the two is there.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
FOLDERS = ("recipes", "data")


def shipped(folder: str) -> Path:
    """The shipped folder `folder` ("recipes" or "data"): inside an installed wheel, else the checkout's."""
    if folder not in FOLDERS:
        raise ValueError(f"shipped folders are {FOLDERS}, not {folder!r}")
    installed = PACKAGE / "_shipped" / folder
    return installed if installed.is_dir() else PACKAGE.parent / folder

"""The recipe library (`recipes/`) and the data it and the sandbox serve (`data/`) sit at the top of
the repository, where readers of the checkout look for them. A wheel has no top level of its own,
so building one copies both folders into the package as `purelink/_shipped/`, where
`purelink.shipped.shipped()` looks first. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithShipped(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folders in place
            return
        for folder in ("recipes", "data"):
            target = Path(self.build_lib) / "purelink" / "_shipped" / folder
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / folder, target, ignore=shutil.ignore_patterns("__pycache__", "*.duckdb*"))


setup(cmdclass={"build_py": BuildWithShipped})

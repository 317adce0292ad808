"""scripts/build-base-image.sh takes its Debian mirror from apt's configuration or
PURELINK_DEBIAN_MIRROR only, and fails with a clear message otherwise; no mirror host is named in
the code, the scripts or the docs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build-base-image.sh"


def mirror(apt: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "PURELINK_DEBIAN_MIRROR"}
    return subprocess.run(check=False, args=["bash", str(SCRIPT), "--print-mirror"], capture_output=True, text=True,
                          env={**clean, "PURELINK_APT_DIR": str(apt), **env}, timeout=60)


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (apt / name).write_text(text)
    return apt


DEB822 = """Types: deb-src
URIs: http://src.mirror.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://security.mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example:3142/debian http://second.mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


@pytest.mark.parametrize("files, expected", [
    ({"sources.list.d/debian.sources": DEB822}, "http://mirror.example:3142/debian"),
    ({"sources.list": "# deb http://old.mirror.example/debian bookworm main\n"
                      "deb [arch=amd64 signed-by=/k.gpg] http://list.mirror.example/debian bookworm main\n"},
     "http://list.mirror.example/debian"),
    ({"sources.list.d/extra.list": "deb http://security.mirror.example/debian-security bookworm-security main\n"
                                   "deb https://tls.mirror.example/debian/ bookworm main\n"},
     "https://tls.mirror.example/debian/"),
], ids=["deb822", "sources.list with options", "a .list file"])
def test_the_mirror_comes_from_apt(tmp_path, files, expected):
    proc = mirror(apt_dir(tmp_path, files))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


def test_the_variable_wins(tmp_path):
    proc = mirror(apt_dir(tmp_path, {"sources.list.d/debian.sources": DEB822}),
                  PURELINK_DEBIAN_MIRROR="http://chosen.mirror.example/debian")
    assert proc.stdout.strip() == "http://chosen.mirror.example/debian"


def test_no_mirror_is_a_clear_failure(tmp_path):
    apt = apt_dir(tmp_path, {"sources.list.d/other.sources": "Types: deb\nURIs: http://mirror.example/ubuntu\n"
                                                             "Suites: noble\n"})
    proc = mirror(apt)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "no Debian mirror found" in proc.stderr and "PURELINK_DEBIAN_MIRROR" in proc.stderr


def test_no_mirror_or_registry_host_is_named():
    hosts = re.compile(r"deb\.debian\.org|ftp\.[a-z.]*debian\.org|security\.debian\.org|archive\.ubuntu\.com|"
                       r"pypi\.org|files\.pythonhosted\.org|registry-1\.docker\.io|index\.docker\.io")
    named = []
    for folder in ("purelink", "purelink_jupyter", "scripts", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".sh", ".md", ".yaml", ".toml", ".txt"):
                named += [f"{path.relative_to(ROOT)}: {m}" for m in hosts.findall(path.read_text(errors="ignore"))]
    for path in ROOT.glob("*.md"):
        named += [f"{path.name}: {m}" for m in hosts.findall(path.read_text(errors="ignore"))]
    assert named == []

"""libpq's password file as libpq reads it: first matching line, `*` wildcards, escaped colons,
the user and database defaults, and a file others may read ignored."""

from __future__ import annotations

from purelink.secrets import pgpass


def test_lines_match_as_libpq_matches_them(tmp_path, monkeypatch):
    path = tmp_path / "pgpass"
    path.write_text("# comment\n\n"
                    "db.example:5432:sales:etl:first\n"
                    "db.example:5432:*:etl:second\n"
                    "*:6543:*:*:pa\\:ss\\\\word\n"
                    "localhost:5432:etl:etl:local-default-db\n")
    path.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(path))
    assert pgpass.lookup("postgresql://etl@db.example:5432/sales") == "first"
    assert pgpass.lookup("postgresql://etl@db.example/other") == "second"  # default port 5432
    assert pgpass.lookup("postgresql://anyone@elsewhere:6543/x") == "pa:ss\\word"
    assert pgpass.lookup("postgresql://etl@localhost") == "local-default-db"  # database defaults to the user
    assert pgpass.lookup("postgresql://etl@db.example:5433/sales") is None
    path.chmod(0o644)
    assert pgpass.lookup("postgresql://etl@db.example:5432/sales") is None  # readable by others: ignored


def test_no_file_is_no_password(tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "absent"))
    assert pgpass.lookup("postgresql://etl@db.example:5432/sales") is None

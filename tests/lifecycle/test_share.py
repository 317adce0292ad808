"""Share a recipe as a bundle and import it elsewhere: real sandbox API, real DuckDB files, real git.

The receiver uses their own key under their own secret name; what they load must be the sender's
rows, value by value. The bundle must hold no key and none of the columns flagged as personal data."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

import duckdb
import pytest

from tests.lifecycle.test_history import purelink

RECEIVER_KEY = "sk_test_receiver_Zq7Lm2Xv9Rt4Bn8Kc3Wp6Hd1"
COLUMNS = "customers:id,email,name,phone,address,created,currency,balance"


@pytest.fixture(scope="module")
def api():
    from purelink.sandbox import serve

    with serve(seed=0, customers=150, api_keys=(RECEIVER_KEY,)) as s:
        yield s


@pytest.fixture
def sender(tmp_path, api):
    ws = tmp_path / "sender"
    ws.mkdir()
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             api.stripe_base_url, "--executor", "local", "--columns", COLUMNS, cwd=ws)
    purelink("recipes", "run", "stripe_customers", cwd=ws, env={"STRIPE_API_KEY": api.api_key})
    return ws


def landed(ws: Path) -> tuple[int, int, str, list]:
    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
    try:
        count, ids, digest = con.execute(
            "SELECT count(*), count(DISTINCT id), md5(string_agg(id || '|' || coalesce(email, '') || '|' || "
            "coalesce(CAST(balance AS VARCHAR), '') || '|' || CAST(created AS VARCHAR), ',' ORDER BY id)) "
            "FROM stripe.customers").fetchone()
        emails = [r[0] for r in con.execute("SELECT email FROM stripe.customers WHERE email IS NOT NULL").fetchall()]
        return count, ids, digest, emails
    finally:
        con.close()


def bundle_bytes(path: Path) -> list[bytes]:
    """The archive itself and every file in it, unpacked."""
    out = [path.read_bytes()]
    with tarfile.open(path) as tar:
        out += [tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()]
    return out


def test_share_then_import_with_the_receivers_key_loads_the_same_rows(sender, tmp_path, api):
    shared = purelink("recipes", "share", "stripe_customers", "--format", "json", cwd=sender,
                      env={"STRIPE_API_KEY": api.api_key})
    manifest = json.loads(shared.stdout)
    bundle = Path(manifest["bundle"])
    assert bundle == sender / "recipes" / "shared" / "stripe_customers_v1.tar.gz" and bundle.is_file()
    untracked = subprocess.run(["git", "status", "--porcelain"], cwd=sender, capture_output=True, text=True,
                               check=True).stdout
    assert "shared" not in untracked, untracked  # kept out of the workspace's history, not left untracked
    assert manifest["credentials"] == [{"name": "STRIPE_API_KEY", "set_with": "purelink secrets set STRIPE_API_KEY",
                                        "or_env": "STRIPE_API_KEY"}]
    with tarfile.open(bundle) as tar:
        names = sorted(m.name for m in tar.getmembers())
        ddl = tar.extractfile("stripe_customers_v1/schema/customers.sql").read().decode()
    assert names == [f"stripe_customers_v1/{n}" for n in ("README.md", "manifest.json", "notebook.ipynb",
                                                           "pipeline.py", "recipe.yaml", "sample/customers.json",
                                                           "schema/customers.sql")]
    assert ";;" not in ddl  # DuckDB's statement already ends with one
    fresh = duckdb.connect()
    fresh.execute(ddl)  # the schema file makes the table as it is in the sender's file
    assert {r[0] for r in fresh.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'customers'")
            .fetchall()} >= {"id", "email", "balance", "created"}
    count, ids, digest, emails = landed(sender)
    assert count == ids == 150 and emails

    # Canary: neither the sender's key nor any flagged column's value is in the bundle.
    everything = bundle_bytes(bundle)
    assert not any(api.api_key.encode() in blob for blob in everything)
    assert not any(e.encode() in blob for blob in everything for e in emails)
    assert set(manifest["personal_data_dropped"]["customers"]) >= {"email", "name", "phone", "address"}
    with tarfile.open(bundle) as tar:
        sample = json.load(tar.extractfile("stripe_customers_v1/sample/customers.json"))
        readme = tar.extractfile("stripe_customers_v1/README.md").read().decode()
        notebook = json.load(tar.extractfile("stripe_customers_v1/notebook.ipynb"))
    assert len(sample) == 5 and all(set(r) == {"id", "created", "currency", "balance"} for r in sample)
    assert "STRIPE_API_KEY" in readme and "purelink recipes import" in readme
    # The notebook export is the same recipe version: same content hash as the manifest's.
    from purelink.recipes import Recipe

    assert Recipe.model_validate(notebook["metadata"]["purelink"]["recipe"]).digest() == manifest["recipe_sha256"]

    receiver = tmp_path / "receiver"
    receiver.mkdir()
    out = purelink("recipes", "import", str(bundle), "--credential", "TEAM_STRIPE", "--run", cwd=receiver,
                   env={"TEAM_STRIPE": RECEIVER_KEY}).stdout
    assert "key      TEAM_STRIPE: found here" in out
    assert api.api_key not in out and RECEIVER_KEY not in out
    assert landed(receiver)[:3] == (count, ids, digest)
    assert "credential: TEAM_STRIPE" in (receiver / "recipes" / "stripe_customers_v1.yaml").read_text()
    # The receiver's history says where the version came from: the bundle, and the sender's version.
    subject = subprocess.run(["git", "log", "-1", "--format=%s", "--", "recipes/stripe_customers_v1.yaml"],
                             cwd=receiver, capture_output=True, text=True, check=True).stdout.strip()
    assert subject == (f"stripe_customers v1: new recipe (stripe: customers); imported from {bundle.name} "
                       f"(stripe_customers v1, shared {manifest['created_at'][:10]})")
    history = purelink("recipes", "history", "stripe_customers", cwd=receiver).stdout
    assert f"change: new recipe (stripe: customers); imported from {bundle.name}" in history, history


def test_import_never_overwrites_and_says_how_to_set_a_missing_key(sender, tmp_path, api):
    bundle = Path(json.loads(purelink("recipes", "share", "stripe_customers", "--format", "json",
                                      cwd=sender).stdout)["bundle"])
    receiver = tmp_path / "receiver"
    receiver.mkdir()
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             api.stripe_base_url, "--executor", "local", cwd=receiver)
    own = (receiver / "recipes" / "stripe_customers_v1.yaml").read_text()
    # A different recipe of the same name here is never replaced silently: the receiver chooses.
    refused = purelink("recipes", "import", str(bundle), "--credential", "MY_STRIPE", cwd=receiver, check=False)
    assert refused.returncode == 1 and "A recipe named stripe_customers exists here (v1)" in refused.stderr
    assert "--name NEW_NAME" in refused.stderr and "add --update" in refused.stderr
    assert sorted(p.name for p in (receiver / "recipes").glob("*.yaml")) == ["stripe_customers_v1.yaml"]
    out = purelink("recipes", "import", str(bundle), "--credential", "MY_STRIPE", "--update", cwd=receiver).stdout
    assert "stripe_customers_v2.yaml (shared as v1)" in out
    assert "MY_STRIPE: not set: `purelink secrets set MY_STRIPE` or export MY_STRIPE=..." in out
    assert (receiver / "recipes" / "stripe_customers_v1.yaml").read_text() == own
    again = purelink("recipes", "import", str(bundle), "--credential", "MY_STRIPE", cwd=receiver).stdout
    assert "stripe_customers_v2.yaml (shared as v1); this workspace held it already, unchanged" in again
    named = purelink("recipes", "import", str(bundle), "--name", "team_customers", cwd=receiver).stdout
    assert "team_customers_v1.yaml (shared as v1)" in named
    assert (receiver / "pipelines" / "team_customers.py").is_file()


def test_an_import_into_another_folder_prints_a_next_step_that_works_as_typed(sender, tmp_path, api):
    bundle = Path(json.loads(purelink("recipes", "share", "stripe_customers", "--format", "json",
                                      cwd=sender).stdout)["bundle"])
    elsewhere, receiver = tmp_path / "elsewhere", tmp_path / "receiver folder"
    elsewhere.mkdir()
    out = purelink("recipes", "import", str(bundle), "--workspace", str(receiver), cwd=elsewhere).stdout
    step = next(line.split(None, 1)[1] for line in out.splitlines() if line.startswith("next"))
    assert step == f"purelink recipes run stripe_customers --workspace '{receiver}'"
    purelink(*shlex.split(step)[1:], cwd=elsewhere, env={"STRIPE_API_KEY": api.api_key})
    assert landed(receiver)[:3] == landed(sender)[:3]  # the sender's rows, value by value


def test_share_refuses_a_bundle_that_would_hold_the_key(sender, api):
    # The sample a probe wrote holds the key (a pasted value in a record): nothing may be written.
    (sender / "samples" / "stripe_customers_preview.json").write_text(
        json.dumps([{"id": "cus_1", "currency": f"key {api.api_key}", "balance": 0}]))
    proc = purelink("recipes", "share", "stripe_customers", cwd=sender, env={"STRIPE_API_KEY": api.api_key},
                    check=False)
    assert proc.returncode == 1
    assert "would hold a secret value (in sample/customers.json)" in proc.stderr
    assert api.api_key not in proc.stdout + proc.stderr
    assert not (sender / "recipes" / "shared").exists() or not any((sender / "recipes" / "shared").iterdir())


def test_a_changed_bundle_is_refused(sender, tmp_path):
    out = sender / "bundle"
    purelink("recipes", "share", "stripe_customers", "--output", str(out), cwd=sender)
    assert (out / "manifest.json").is_file()
    pipeline = out / "pipeline.py"
    pipeline.write_text(pipeline.read_text() + "\nimport os  # something added on the way\n")
    proc = purelink("recipes", "import", str(out), cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "was changed after it was shared (pipeline.py)" in proc.stderr


def test_team_folder_as_a_git_remote(sender, tmp_path):
    remote = tmp_path / "team.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    seed = tmp_path / "seed"  # a remote with one commit, as a team's repository would have
    subprocess.run(["git", "clone", "-q", str(remote), str(seed)], check=True)
    (seed / "README.md").write_text("team recipes\n")
    for args in (["add", "README.md"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start"],
                 ["push", "-q", "origin", "HEAD"]):
        subprocess.run(["git", *args], cwd=seed, check=True)

    purelink("recipes", "share", "stripe_customers", "--to", str(remote), "--output", "stripe.zip", cwd=sender)
    files = subprocess.run(["git", "ls-tree", "--name-only", "HEAD"], cwd=remote, capture_output=True, text=True,
                           check=True).stdout.split()
    assert files == ["README.md", "stripe.zip"]
    # Shared again unchanged: the same bundle is found, nothing is committed or pushed twice.
    purelink("recipes", "share", "stripe_customers", "--to", str(remote), "--output", "stripe.zip", cwd=sender)
    log = subprocess.run(["git", "log", "--format=%s"], cwd=remote, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert log == ["share stripe_customers v1", "start"]

    other = tmp_path / "other"
    other.mkdir()
    rows = json.loads(purelink("recipes", "list", "--shared", "--from", str(remote), "--format", "json",
                               cwd=other, env={"PURELINK_HOME": str(tmp_path / "other_home")}).stdout)
    assert [(Path(r["bundle"]).name, r["name"], r["version"], r["credentials"]) for r in rows] == \
        [("stripe.zip", "stripe_customers", 1, ["STRIPE_API_KEY"])]
    digest = hashlib.sha256(Path(rows[0]["bundle"]).read_bytes()).hexdigest()
    shown = subprocess.run(["git", "show", "HEAD:stripe.zip"], cwd=remote, capture_output=True, check=True).stdout
    assert hashlib.sha256(shown).hexdigest() == digest


def test_import_asks_a_person_for_their_key_and_keeps_it_in_the_vault(sender, tmp_path, api, monkeypatch):
    pexpect = pytest.importorskip("pexpect")
    bundle = Path(json.loads(purelink("recipes", "share", "stripe_customers", "--format", "json",
                                      cwd=sender).stdout)["bundle"])
    receiver = tmp_path / "receiver"
    receiver.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_API_KEY"}
    env.update(PURELINK_HOME=str(tmp_path / "receiver_home"), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    child = pexpect.spawn(sys.executable, ["-m", "purelink.cli", "recipes", "import", str(bundle), "--credential",
                                           "MINE", "--run"], cwd=str(receiver), env=env, encoding="utf-8",
                          timeout=300)
    child.expect("MINE \\(your own key; input hidden")
    child.sendline(RECEIVER_KEY)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "key      MINE: found here" in child.before and RECEIVER_KEY not in child.before
    assert landed(receiver)[:3] == landed(sender)[:3]
    from purelink.secrets.vault import Vault

    monkeypatch.setenv("PURELINK_HOME", env["PURELINK_HOME"])  # the receiver's vault, read back here
    assert Vault().get("MINE").reveal() == RECEIVER_KEY


def test_the_bundle_readme_runs_once_then_names_the_later_runs_and_the_keys_as_they_are_set():
    from purelink.lifecycle.bundle import readme
    from purelink.recipes import parse_recipe

    recipe = parse_recipe("name: custs\nsource: {name: stripe}\nstreams: [{name: customers}]\n")
    text = readme(recipe, [{"name": "stripe_sandbox"}, {"name": "STRIPE_API_KEY"}], {})
    assert "- `stripe_sandbox`: `purelink secrets set stripe_sandbox`\n" in text  # no lowercase "variable"
    assert "or the environment variable `STRIPE_API_KEY`" in text
    fences = [block.strip().splitlines() for block in text.split("```")[1::2]]
    assert fences == [["purelink recipes import custs_v1.tar.gz --run"], ["purelink recipes run custs"]]
    assert "Every later run" in text and "runs once" not in text


def test_a_person_named_inside_a_json_column_is_left_out_of_the_sample(tmp_path):
    """metadata.account_manager: "Lena" is a person's name inside a JSON column; the sample keeps the
    rest of the object and drops that field (a new user found it in a shared bundle)."""
    from purelink.engine import Engine
    from purelink.lifecycle.samples import stream_sample
    from purelink.recipes import parse_recipe

    engine = Engine(tmp_path)
    recipe = engine.recipes.save(parse_recipe(
        "name: custs\nsource: {name: stripe, base_url: 'http://127.0.0.1:9/v1'}\nstreams: [{name: customers}]\n"))
    names = ["Lena", "Omar", "Aiko", "Jonas", "Priya", "Chloé", "Diego O'Brien"]
    db = engine.db_path(recipe)
    db.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA stripe")
        con.execute("CREATE TABLE stripe.customers (id VARCHAR, owner VARCHAR, metadata JSON)")
        con.executemany("INSERT INTO stripe.customers VALUES (?, ?, ?)",
                        [(f"cus_{i}", f"usr_{i}", json.dumps({"account_manager": n, "crm_id": f"00Q{i}", "plan": "Gold"}))
                         for i, n in enumerate(names)])
    sample = stream_sample(engine, recipe, recipe.streams[0])
    assert "metadata.account_manager" in sample.dropped and "owner" not in sample.dropped  # an id, not a name
    assert len(sample.records) == 5
    for record in sample.records:
        assert record["metadata"].keys() == {"crm_id", "plan"} and record["owner"].startswith("usr_")
    text = json.dumps(sample.records, ensure_ascii=False)
    assert not any(n in text for n in names)


def test_a_second_recipe_on_the_source_shares_the_table_its_rows_are_in(sender, tmp_path, api):
    """stripe_customers owns stripe.customers, so mystripe loads into stripe.mystripe_customers: its
    bundle's schema, sample, README and notebook describe that table with mystripe's columns, not
    the other recipe's table (a user trial found the other recipe's columns in the bundle)."""
    env = {"STRIPE_API_KEY": api.api_key}
    purelink("recipes", "new", "mystripe", "--source", "stripe", "--streams", "customers", "--base-url",
             api.stripe_base_url, "--executor", "local", "--columns", "customers:id,created,balance", cwd=sender)
    purelink("recipes", "run", "mystripe", cwd=sender, env=env)
    db = sender / "data" / "purelink.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        held = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'stripe' "
                                          "AND table_name = 'mystripe_customers' ORDER BY column_index").fetchall()]
        ids = {r[0] for r in con.execute("SELECT id FROM stripe.mystripe_customers").fetchall()}
        count = con.execute("SELECT count(*) FROM stripe.mystripe_customers").fetchone()[0]
    assert [c for c in held if not c.startswith("_purelink")] == ["id", "created", "balance"] and count == 150

    bundle = Path(json.loads(purelink("recipes", "share", "mystripe", "--format", "json", cwd=sender,
                                      env=env).stdout)["bundle"])
    with tarfile.open(bundle) as tar:
        ddl = tar.extractfile("mystripe_v1/schema/customers.sql").read().decode()
        sample = json.load(tar.extractfile("mystripe_v1/sample/customers.json"))
        readme = tar.extractfile("mystripe_v1/README.md").read().decode()
        notebook = json.load(tar.extractfile("mystripe_v1/notebook.ipynb"))
    fresh = duckdb.connect()
    fresh.execute(ddl)  # makes the table mystripe's rows are in, with its columns, and no other
    made = fresh.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
    assert made == [("stripe", "mystripe_customers")]
    assert [r[0] for r in fresh.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = "
                                        "'mystripe_customers' ORDER BY column_index").fetchall()] == held
    assert len(sample) == 5 and all(set(r) == {"id", "created", "balance"} and r["id"] in ids for r in sample)
    assert "- `customers` into `stripe.mystripe_customers`: id, created, balance" in readme
    query = next("".join(c["source"]) for c in notebook["cells"] if c["id"] == "purelink-query")
    sql = query.split('--query "', 1)[1].rstrip('"')
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(sql).fetchall() == [(count,)]
    assert "FROM stripe.mystripe_customers" in sql

"""`purelink deploy`: the Airflow DAG run once by real Apache Airflow (its own venv, built by
scripts/airflow-venv.sh) through the real Docker engine, and the Kubernetes manifests read by the
official client's models.

The DAG's container reaches the sandbox as host.docker.internal, so the sandbox listens on 0.0.0.0
here, as in the other container tests (tests/execution): Airflow starts the container itself, so
the relay purelink's own runner opens for one container's address has no container to admit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import pytest
import yaml

from tests.execution.conftest import IN_CI, ROOT, base_image, docker_engine, runtime_image  # noqa: F401 - fixtures
from tests.lifecycle.test_history import purelink
from tests.lifecycle.test_schedule import HeldProxy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api():
    from purelink.sandbox import serve

    with serve(host="0.0.0.0", seed=0, customers=150) as s:
        yield s


@pytest.fixture(scope="session")
def airflow_venv() -> Path:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "airflow-venv.sh")], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=1800, check=False)
    if proc.returncode != 0:
        message = f"the Airflow venv could not be built: {proc.stderr.strip()[-800:]}"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return Path(proc.stdout.strip().splitlines()[-1])


def truth_ids(api) -> set[str]:
    """Every customer id the sandbox serves, paged through its Stripe-style API."""
    ids: set[str] = set()
    params: dict = {"limit": 100}
    while True:
        page = httpx.get(f"{api.stripe_base_url}/customers", params=params, timeout=30,
                         headers={"Authorization": f"Bearer {api.api_key}"}).json()
        ids |= {c["id"] for c in page["data"]}
        if not page["has_more"]:
            return ids
        params["starting_after"] = page["data"][-1]["id"]


def new_recipe(ws: Path, api, base_url: str | None = None) -> None:
    purelink("recipes", "new", "stripe_customers", "--source", "stripe", "--streams", "customers", "--base-url",
             base_url or api.stripe_base_url, "--executor", "docker", cwd=ws)


# What purelink's own Docker executor gives a run (purelink/execution/docker/handle.py), which the
# DAG's container must have too.
HARDENED = {"CapDrop": ["ALL"], "ReadonlyRootfs": True, "SecurityOpt": ["no-new-privileges"], "PidsLimit": 512,
            "Memory": 2 * 1024**3, "MemorySwap": 2 * 1024**3, "Privileged": False,
            "Tmpfs": {"/tmp": "rw,nosuid,nodev,noexec,size=256m"}}


@pytest.fixture
def held_api(api):
    """The sandbox behind a proxy that holds the container's first request until released: the
    test reads the running container's settings before it finishes and is removed."""
    proxy = HeldProxy(api, host="0.0.0.0")  # the DAG's container reaches it as host.docker.internal
    yield proxy
    proxy.close()


@pytest.mark.timeout(1800)
def test_airflow_runs_the_dag_in_the_runtime_image_and_loads_the_sandbox(tmp_path, api, held_api, airflow_venv,
                                                                         runtime_image):  # noqa: F811
    import docker

    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, api, held_api.url)
    out = json.loads(purelink("deploy", "stripe_customers", "--to", "airflow", "--every", "hourly", "--image",
                              runtime_image, "--format", "json", cwd=ws).stdout)
    dag_file = Path(out["file"])
    assert out["schedule"] == "0 * * * *" and out["credentials"] == ["STRIPE_API_KEY"]
    text = dag_file.read_text()
    assert text.startswith("# purelink: Airflow DAG for recipe stripe_customers v1")
    assert api.api_key not in text and "private_environment=Credentials()" in text
    # The DAG runs the deployed version's own module, kept beside it, not the workspace's live one.
    pinned = dag_file.parent / "pipelines" / "stripe_customers_v1.py"
    assert f"PIPELINE = {str(pinned)!r}" in text
    assert pinned.read_text() == (ws / "pipelines" / "stripe_customers.py").read_text()
    os.chown(ws / "data", 10001, 10001)  # the DAG's container runs as the runtime image's uid

    home = tmp_path / "airflow"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(dag_file.parent),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__UNIT_TEST_MODE="False")

    def airflow(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(airflow_venv / "bin" / "airflow"), *args], env=env, capture_output=True,
                              text=True, timeout=900, stdin=subprocess.DEVNULL, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    airflow("db", "migrate")
    airflow("variables", "set", "STRIPE_API_KEY", api.api_key)
    data_dir = re.search(r"^DATA_DIR = '([^']+)'", text, re.MULTILINE)[1]
    ran = subprocess.Popen([str(airflow_venv / "bin" / "airflow"), "dags", "test", out["dag_id"]], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    engine = docker.from_env()
    try:
        while not held_api.arrived.wait(1) and ran.poll() is None:
            pass  # until the container is inside its first request, or Airflow gave up
        assert held_api.arrived.is_set(), "the DAG's container never reached the API: " + ran.stdout.read()[-3000:]
        [container] = engine.containers.list(filters={"label": f"purelink.data={data_dir}"})
        host = container.attrs["HostConfig"]
        assert {k: host.get(k) for k in HARDENED} == HARDENED
        assert host["NanoCpus"] == int(min(2, engine.info()["NCPU"]) * 1e9)
        assert container.attrs["Config"]["User"] == "10001:10001"
    finally:
        held_api.release.set()
        logs = ran.communicate(timeout=900)[0]
        engine.close()
    assert ran.returncode == 0, logs[-3000:]
    assert '"status":"success"' in logs and api.api_key not in logs

    con = duckdb.connect(str(ws / "data" / "purelink.duckdb"), read_only=True)
    try:
        count, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM stripe.customers").fetchone()
        ids = {r[0] for r in con.execute("SELECT id FROM stripe.customers").fetchall()}
        runs = con.execute("SELECT status, records, executor FROM _purelink.executions").fetchall()
    finally:
        con.close()
    truth = truth_ids(api)
    assert count == distinct == len(truth) == 150
    assert ids == truth
    assert runs == [("success", 150, "airflow")]


@pytest.mark.timeout(1800)
def test_the_kubernetes_pod_operator_variant_loads_in_airflow(tmp_path, api, airflow_venv):
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, api)
    out = json.loads(purelink("deploy", "stripe_customers", "--to", "airflow", "--operator", "kubernetes",
                              "--every", "daily", "--at", "02:30", "--image", "registry.example/purelink-runtime:1",
                              "--format", "json", cwd=ws).stdout)
    # Imported by Airflow's own DagBag: the operator, its secrets and pod settings are what it accepts.
    check = ("import sys; from airflow.models import DagBag; b = DagBag(sys.argv[1], include_examples=False); "
             "assert not b.import_errors, b.import_errors; d = b.dags[sys.argv[2]]; t = d.get_task('run_pipeline'); "
             "print(type(t).__name__, d.timetable.summary, t.image, [s.deploy_target for s in t.secrets], "
             "t.security_context.run_as_non_root)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    proc = subprocess.run([str(airflow_venv / "bin" / "python"), "-c", check, str(Path(out["file"]).parent),
                           out["dag_id"]], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[-2] == \
        "KubernetesPodOperator 30 2 * * * registry.example/purelink-runtime:1 ['STRIPE_API_KEY'] True"


def test_kubernetes_manifests_parse_with_the_official_client(tmp_path, api):
    kubernetes = pytest.importorskip("kubernetes") if not IN_CI else __import__("kubernetes")
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, api)
    out = json.loads(purelink("deploy", "stripe_customers", "--to", "kubernetes", "--every", "daily", "--image",
                              "registry.example/purelink-runtime:1", "--format", "json", cwd=ws,
                              env={"STRIPE_API_KEY": api.api_key}).stdout)
    text = Path(out["file"]).read_text()
    assert api.api_key not in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    client = kubernetes.client.ApiClient()

    class Response:  # what ApiClient.deserialize reads: the JSON body of an API answer
        def __init__(self, obj):
            self.data = json.dumps(obj)

    kinds = {d["kind"]: client.deserialize(Response(d), f"V1{d['kind']}") for d in docs}
    assert sorted(kinds) == ["ConfigMap", "CronJob", "PersistentVolumeClaim", "Secret"]
    cron, secret = kinds["CronJob"], kinds["Secret"]
    assert cron.spec.schedule == "0 3 * * *" and cron.spec.concurrency_policy == "Forbid"
    pod = cron.spec.job_template.spec.template.spec
    container = pod.containers[0]
    assert container.image == "registry.example/purelink-runtime:1"
    refs = {e.name: e.value_from.secret_key_ref for e in container.env if e.value_from}
    assert {n: (r.name, r.key) for n, r in refs.items()} == \
        {"STRIPE_API_KEY": ("purelink-stripe-customers-credentials", "STRIPE_API_KEY")}
    assert secret.metadata.name == "purelink-stripe-customers-credentials"
    assert secret.string_data == {"STRIPE_API_KEY": ""}  # the key is named; the value is the user's to fill
    sc = container.security_context
    assert sc.run_as_non_root and sc.run_as_user == 10001 and not sc.allow_privilege_escalation
    assert sc.read_only_root_filesystem and sc.capabilities.drop == ["ALL"]
    assert pod.security_context.run_as_non_root
    module = kinds["ConfigMap"].data["pipeline.py"]
    assert module == (ws / "pipelines" / "stripe_customers.py").read_text()
    assert container.command == ["python", "/pipeline/pipeline.py", "--db", "/data/purelink.duckdb"]
    assert {e.name: e.value for e in container.env if not e.value_from}["PURELINK_EXECUTOR"] == "kubernetes"


def test_a_recipe_without_a_schedule_says_how_to_give_one(tmp_path, api):
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, api)
    proc = purelink("deploy", "stripe_customers", "--to", "kubernetes", "--image", "x:1", cwd=ws, check=False)
    assert proc.returncode == 1 and "runs 'once', so there is no schedule to deploy" in proc.stderr
    assert "Traceback" not in proc.stderr
    # the fix it names exists: the option it gives works as written (`recipes new` has no frequency)
    assert "`purelink deploy stripe_customers --every daily ...`" in proc.stderr, proc.stderr
    again = purelink("deploy", "stripe_customers", "--to", "kubernetes", "--image", "x:1", "--every", "daily",
                     cwd=ws, check=False)
    assert again.returncode == 0, again.stderr



def test_without_an_engine_deploy_says_to_name_the_image(tmp_path, api):
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, api)
    proc = purelink("deploy", "stripe_customers", "--to", "kubernetes", "--every", "daily", cwd=ws, check=False,
                    env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert proc.returncode == 1 and "--image REGISTRY/purelink-runtime:TAG" in proc.stderr
    assert "Traceback" not in proc.stderr and not (ws / "deploy" / "kubernetes").exists()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_kubernetes_deploy_warns_of_what_would_fail_in_a_cluster(tmp_path, api):
    """Found by a new user: the manifest named an image only this machine has and a source on
    127.0.0.1 (the pod itself, inside a cluster), and nothing said so."""
    ws = tmp_path / "ws"
    ws.mkdir()
    new_recipe(ws, api)
    out = purelink("deploy", "stripe_customers", "--to", "kubernetes", "--every", "daily", "--image",
                   "purelink-runtime:local", cwd=ws, env={"STRIPE_API_KEY": api.api_key}).stdout
    assert "purelink-runtime:local exists only on this machine" in out and "--image REGISTRY/" in out, out
    assert "inside a pod is the pod itself" in out and "--update --base-url URL" in out, out
    # a DAG's container on the Airflow worker's engine cannot reach the recipe's 127.0.0.1 either
    for operator, said in (("docker", "asks the Airflow worker's host for it"), ("kubernetes", "the pod itself")):
        dag = purelink("deploy", "stripe_customers", "--to", "airflow", "--operator", operator, "--every", "daily",
                       "--image", "purelink-runtime:local", cwd=ws, env={"STRIPE_API_KEY": api.api_key}).stdout
        assert said in dag and "--update --base-url URL" in dag and "exists only on this machine" not in dag, dag
    [written] = (ws / "deploy" / "kubernetes").glob("*.yaml")
    manifests = written.read_text()
    assert "applying the file as it is would empty a Secret created that way" in manifests

"""Deployment where teams run pipelines: an Airflow DAG, or Kubernetes manifests, for one recipe.

Both run the recipe's generated module in purelink's hardened runtime image (non-root uid 10001,
only the runtime's packages), on the schedule of the recipe's frequency. Credentials are named,
never written: the DAG reads them from Airflow Variables (or a Connection's password) when the
task runs; the CronJob reads them from a Secret whose keys are listed and whose values the user fills.

    airflow_dag(recipe, image="purelink-runtime:3f0c9a1b2d4e", module=..., data_dir=...)   # the DAG's text
    kubernetes_manifests(recipe, image=..., module_text=...)                               # multi-document YAML
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from purelink.errors import PurelinkError
from purelink.execution.images import SANDBOX_UID

if TYPE_CHECKING:
    from purelink.recipes import Recipe

LOOPBACK_HOST = "host.docker.internal"  # what the runtime calls a loopback source from inside a container
SCHEDULES = ("hourly", "daily")


class DeployError(PurelinkError):
    pass


def cron(recipe: Recipe, at: str | None = None) -> str:
    """The recipe's frequency as cron fields (hourly at :00, daily at 03:00 unless `at` says otherwise)."""
    from purelink.lifecycle.schedule import timing

    every = recipe.requirements.frequency
    if every not in SCHEDULES:
        raise DeployError(f"{recipe.name} runs {every!r}, so there is no schedule to deploy.",
                          f"Pass --every hourly or --every daily: `purelink deploy {recipe.name} --every daily "
                          "...` (the wizard's requirements step sets a recipe's own frequency).")
    return timing(every, at)[0]


def dag_id(recipe: Recipe) -> str:
    return f"purelink_{recipe.name}"


def slug(recipe: Recipe) -> str:
    """A Kubernetes object name: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", f"purelink-{recipe.name}".lower()).strip("-")[:52]


def header(recipe: Recipe, what: str) -> str:
    return (f"purelink: {what} for recipe {recipe.name} v{recipe.version} "
            f"(content sha256 {recipe.digest()[:16]}), written by `purelink deploy`")


def airflow_dag(recipe: Recipe, *, image: str, module: Path, data_dir: Path, db_file: str, schedule: str,
                credentials: list[str], operator: str = "docker") -> str:
    """The DAG file's text: DockerOperator on this host's engine, or KubernetesPodOperator."""
    if operator == "kubernetes":
        return _kpo_dag(recipe, image=image, schedule=schedule, credentials=credentials, db_file=db_file)
    from purelink.execution.docker.runner import Limits

    limits = Limits()  # the local Docker executor's limits, so a deployed run is held as tightly
    hardening = {"cap_drop": ["ALL"], "read_only": True, "security_opt": ["no-new-privileges"],
                 "pids_limit": limits.pids, "memswap_limit": limits.memory,
                 "tmpfs": {"/tmp": f"rw,nosuid,nodev,noexec,size={limits.tmp_size}"}}
    return f'''# {header(recipe, "Airflow DAG")}
"""Runs {recipe.name} {recipe.requirements.frequency} in purelink's runtime image, through Docker.

Credentials are read by name when the task runs, from an Airflow Variable or else the password of
the Connection of that name: `airflow variables set NAME VALUE`. They never appear in this file,
in the task's rendered fields or in the container's listed environment (private_environment).
"""

from collections.abc import Mapping
from datetime import datetime

from airflow import DAG
from airflow.hooks.base import BaseHook
from airflow.models import Variable
from airflow.providers.docker.operators.docker import DockerOperator
from docker.types import Mount

IMAGE = {image!r}  # purelink's hardened runtime image: non-root, only the runtime's packages
PIPELINE = {str(module)!r}  # the generated module, mounted read-only
DATA_DIR = {str(data_dir)!r}  # holds the DuckDB file; writable by uid {SANDBOX_UID}
DB_FILE = {db_file!r}
CREDENTIALS = {json.dumps(credentials)}
# What DockerOperator has no parameter for, added to the container's host config as purelink's own
# Docker executor sets it: no capabilities, read-only root filesystem, no privilege gain, a pid limit,
# memory without swap, a CPU cap (CPUS; the operator's `cpus` is only a relative weight), and a
# small noexec /tmp as the only scratch space.
HARDENING = {hardening!r}
CPUS = {limits.cpus!r}
LABELS = {{"purelink.dag": {dag_id(recipe)!r}, "purelink.data": DATA_DIR}}


class HardenedClient:
    """The operator's Docker client with HARDENING and LABELS added to every container it creates.
    Fail-closed: a container whose settings did not take (another provider version) is removed
    before it starts, and the task fails."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def create_host_config(self, **kwargs):
        cpus = min(CPUS, self._client.info()["NCPU"])  # the engine refuses more than it has
        return self._client.create_host_config(**kwargs, **HARDENING, nano_cpus=int(cpus * 1e9))

    def create_container(self, **kwargs):
        labels = {{**(kwargs.pop("labels", None) or {{}}), **LABELS}}
        container = self._client.create_container(**kwargs, labels=labels)
        host = self._client.inspect_container(container["Id"])["HostConfig"]
        if host.get("CapDrop") != ["ALL"] or not host.get("ReadonlyRootfs") or not host.get("SecurityOpt"):
            self._client.remove_container(container["Id"], force=True)
            raise RuntimeError("The container was not created with purelink's hardening (no capabilities, "
                               "read-only root filesystem, no-new-privileges); it was removed, nothing ran. "
                               "Check the apache-airflow-providers-docker version (written for 3.x).")
        return container


class HardenedDockerOperator(DockerOperator):
    @property
    def cli(self):
        return HardenedClient(self.hook.api_client)


class Credentials(Mapping):
    """Each value is looked up when the container starts, not when the scheduler parses this file:
    an Airflow Variable of that name, else the password of the Connection of that name."""

    def __iter__(self):
        return iter(CREDENTIALS)

    def __len__(self):
        return len(CREDENTIALS)

    def __getitem__(self, name):
        value = Variable.get(name, default_var=None)
        return value if value is not None else BaseHook.get_connection(name).password


with DAG(dag_id={dag_id(recipe)!r}, schedule={schedule!r}, start_date=datetime(2024, 1, 1), catchup=False,
         max_active_runs=1, tags=["purelink"]) as dag:
    HardenedDockerOperator(
        task_id="run_pipeline",
        image=IMAGE,
        command=["python", "/pipeline/{module.name}", "--db", f"/data/{{DB_FILE}}"],
        mounts=[Mount("/pipeline/{module.name}", PIPELINE, type="bind", read_only=True),
                Mount("/data", DATA_DIR, type="bind")],
        environment={{"PURELINK_IN_CONTAINER": "1", "PURELINK_LOOPBACK_HOST": "{LOOPBACK_HOST}",
                     "PYTHONUNBUFFERED": "1", "HOME": "/tmp", "PURELINK_EXECUTOR": "airflow"}},
        private_environment=Credentials(),
        user="{SANDBOX_UID}:{SANDBOX_UID}",
        privileged=False,
        mem_limit={limits.memory!r},
        cpus={limits.cpus!r},
        extra_hosts={{"{LOOPBACK_HOST}": "host-gateway"}},  # a source on this host's loopback
        mount_tmp_dir=False,
        auto_remove="success",
    )
'''


def _kpo_dag(recipe: Recipe, *, image: str, schedule: str, credentials: list[str], db_file: str) -> str:
    name = slug(recipe)
    return f'''# {header(recipe, "Airflow DAG (KubernetesPodOperator)")}
"""Runs {recipe.name} {recipe.requirements.frequency} as a pod of purelink's runtime image.

The module comes from the ConfigMap {name}-pipeline, the data volume from the claim {name}-data,
the credentials from the Secret {name}-credentials (by key; `purelink deploy {recipe.name} --to
kubernetes` writes all three, values left for you to fill).
"""

from datetime import datetime

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

CREDENTIALS = {json.dumps(credentials)}

with DAG(dag_id={dag_id(recipe)!r}, schedule={schedule!r}, start_date=datetime(2024, 1, 1), catchup=False,
         max_active_runs=1, tags=["purelink"]) as dag:
    KubernetesPodOperator(
        task_id="run_pipeline",
        name="{name}",
        image={image!r},
        cmds=["python", "/pipeline/pipeline.py", "--db", "/data/{db_file}"],
        secrets=[Secret("env", key, "{name}-credentials", key) for key in CREDENTIALS],
        env_vars={{"PURELINK_IN_CONTAINER": "1", "PYTHONUNBUFFERED": "1", "HOME": "/tmp",
                  "PURELINK_EXECUTOR": "airflow"}},
        volumes=[k8s.V1Volume(name="pipeline", config_map=k8s.V1ConfigMapVolumeSource(name="{name}-pipeline")),
                 k8s.V1Volume(name="data", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                     claim_name="{name}-data")),
                 k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource())],
        volume_mounts=[k8s.V1VolumeMount(name="pipeline", mount_path="/pipeline", read_only=True),
                       k8s.V1VolumeMount(name="data", mount_path="/data"),
                       k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],
        security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user={SANDBOX_UID},
                                                  run_as_group={SANDBOX_UID}, fs_group={SANDBOX_UID}),
        container_security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False, read_only_root_filesystem=True,
            capabilities=k8s.V1Capabilities(drop=["ALL"])),
        on_finish_action="delete_pod",
        get_logs=True,
    )
'''


def kubernetes_manifests(recipe: Recipe, *, image: str, module_text: str, schedule: str,
                         credentials: list[str], db_file: str, storage: str = "1Gi") -> str:
    """A ConfigMap (the module), the Secret it expects (keys named, values empty), a claim for the
    data, and the CronJob; one YAML stream, `kubectl apply -f` ready once the Secret is filled."""
    name = slug(recipe)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "purelink",
              "purelink/recipe": recipe.name, "purelink/version": str(recipe.version)}

    def meta(suffix: str) -> dict:
        return {"name": f"{name}{suffix}", "labels": labels}

    container = {
        "name": "pipeline", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["python", "/pipeline/pipeline.py", "--db", f"/data/{db_file}"],
        "env": [{"name": "PURELINK_IN_CONTAINER", "value": "1"}, {"name": "PYTHONUNBUFFERED", "value": "1"},
                {"name": "HOME", "value": "/tmp"}, {"name": "PURELINK_EXECUTOR", "value": "kubernetes"}]
        + [{"name": key, "valueFrom": {"secretKeyRef": {"name": f"{name}-credentials", "key": key}}}
           for key in credentials],
        "volumeMounts": [{"name": "pipeline", "mountPath": "/pipeline", "readOnly": True},
                         {"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {"runAsNonRoot": True, "runAsUser": SANDBOX_UID, "runAsGroup": SANDBOX_UID,
                            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    pod = {"restartPolicy": "Never",
           "securityContext": {"runAsNonRoot": True, "runAsUser": SANDBOX_UID, "fsGroup": SANDBOX_UID},
           "containers": [container],
           "volumes": [{"name": "pipeline", "configMap": {"name": f"{name}-pipeline"}},
                       {"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}},
                       {"name": "tmp", "emptyDir": {}}]}
    documents = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("-pipeline"), "data": {"pipeline.py": module_text}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta("-credentials"), "type": "Opaque",
         "stringData": {key: "" for key in credentials}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("-data"),
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(""),
         "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 3,
                  "failedJobsHistoryLimit": 3,
                  "jobTemplate": {"spec": {"backoffLimit": 1, "template": {"metadata": {"labels": labels},
                                                                           "spec": pod}}}}},
    ]
    head = (f"# {header(recipe, 'Kubernetes manifests')}\n"
            f"# Fill the Secret {name}-credentials ({', '.join(credentials) or 'no keys'}) before applying: its\n"
            "# stringData values below are empty. Or delete that document from this file and create it with\n"
            f"#   kubectl create secret generic {name}-credentials "
            + " ".join(f"--from-literal={k}=..." for k in credentials) + "\n"
            "# (applying the file as it is would empty a Secret created that way).\n")
    return head + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents)

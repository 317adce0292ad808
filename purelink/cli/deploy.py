"""`purelink deploy NAME --to airflow|kubernetes`: a scheduled production run of a recipe elsewhere.

    purelink deploy stripe_customers --to airflow [--operator docker|kubernetes] [--output DIR]
    purelink deploy stripe_customers --to kubernetes [--image REGISTRY/purelink-runtime:TAG]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the recipe")
    parser.add_argument("--to", choices=["airflow", "kubernetes"], required=True)
    parser.add_argument("--output", type=Path, help="folder to write into (default deploy/airflow or deploy/kubernetes)")
    parser.add_argument("--operator", choices=["docker", "kubernetes"], default="docker",
                        help="airflow: DockerOperator on the worker's engine, or KubernetesPodOperator")
    parser.add_argument("--image", help="the runtime image to run (default: purelink's, built here when missing); "
                        "for a cluster, the tag you pushed to your registry")
    parser.add_argument("--every", choices=["hourly", "daily"], help="instead of the recipe's frequency")
    parser.add_argument("--at", metavar="HH:MM", help="time of day (daily) or minute (hourly); default 03:00 / :00")
    parser.add_argument("--version", type=int, metavar="N", help="deploy version N; default the latest")
    parser.add_argument("--format", choices=["table", "json"], default="table")


def run(args: argparse.Namespace) -> int:
    from purelink.engine import Engine
    from purelink.lifecycle.bundle import credentials_needed, module_text
    from purelink.lifecycle.deploy import airflow_dag, cron, dag_id, kubernetes_manifests, slug

    engine = Engine(args.workspace)
    recipe = engine.recipes.load(args.name, args.version)
    if args.every:
        recipe = recipe.model_copy(update={"requirements": recipe.requirements.model_copy(
            update={"frequency": args.every})})
    schedule = cron(recipe, args.at)
    image = args.image or _runtime_image()
    credentials = [c["name"] for c in credentials_needed(engine, recipe)]
    db = engine.db_path(recipe).resolve()
    folder = args.output or engine.workspace.root / "deploy" / args.to
    folder.mkdir(parents=True, exist_ok=True)
    code = module_text(engine, recipe)
    warnings: list[str] = []
    if args.to == "airflow":
        target = folder / f"{dag_id(recipe)}.py"
        # The DAG runs this version's module, kept beside it: a later version of the recipe in the
        # workspace changes nothing deployed until it is deployed in turn.
        module = _write(folder / "pipelines" / f"{recipe.name}_v{recipe.version}.py", code)
        _write(folder / ".airflowignore", "pipelines/\n")  # modules, not DAGs: the scheduler skips them
        text = airflow_dag(recipe, image=image, module=module.resolve(), data_dir=db.parent, db_file=db.name,
                           schedule=schedule, credentials=credentials, operator=args.operator)
        how = (f"copy it into your dags/ folder; set each credential with `airflow variables set NAME VALUE`: "
               f"{', '.join(credentials) or 'none needed'}")
        warnings += _loopback_warnings(engine, recipe, "pod" if args.operator == "kubernetes" else "container")
    else:
        target = folder / f"{slug(recipe)}.yaml"
        text = kubernetes_manifests(recipe, image=image, module_text=code, schedule=schedule,
                                    credentials=credentials, db_file=db.name)
        how = f"fill the Secret's values in {target.name}, then `kubectl apply -f {target.name}`"
        warnings += _cluster_warnings(image) + _loopback_warnings(engine, recipe, "pod")
    _write(target, text)
    if args.format == "json":
        print(json.dumps({"file": str(target), "schedule": schedule, "image": image, "credentials": credentials,
                          "dag_id": dag_id(recipe) if args.to == "airflow" else None}))
    else:
        print(f"wrote    {target}")
        print(f"runs     {schedule} (cron, UTC) in {image}")
        print(f"next     {how}")
        for warning in warnings:
            print(f"warning  {warning}")
    return 0


def _cluster_warnings(image: str) -> list[str]:
    """What would make the CronJob fail in a cluster although it runs here."""
    if "/" not in image.split(":")[0]:
        return [(f"the image {image} exists only on this machine: push it to a registry the cluster pulls from "
                 "and deploy with --image REGISTRY/purelink-runtime:TAG (or load it into the cluster)")]
    return []


def _loopback_warnings(engine, recipe, where: str) -> list[str]:
    """A source on this machine's loopback (127.0.0.1, localhost), which a deployed run cannot reach as
    a run here does: `purelink recipes run` forwards it into its container, a deployment cannot."""
    from purelink.catalog.spec import get_spec
    from purelink.execution.reach import endpoint

    url = recipe.source.base_url or get_spec(recipe.source.name, engine.workspace.root).base_url
    point = endpoint(url) if url else None
    if point is None or not point.loopback:
        return []
    fix = f"`purelink recipes new {recipe.name} --update --base-url URL`"
    if where == "pod":
        return [(f"the recipe reads {url}, which inside a pod is the pod itself: point it at an address the "
                 f"cluster reaches ({fix}), then deploy again")]
    return [(f"the recipe reads {url}: the DAG's container asks the Airflow worker's host for it "
             "(host.docker.internal), which answers only if the service there listens on more than 127.0.0.1 "
             f"(a `purelink sandbox` does not); otherwise point the recipe at an address the worker reaches ({fix}), "
             "then deploy again")]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def _runtime_image() -> str:
    from purelink.errors import ExecutionError
    from purelink.execution.images import ensure_runtime_image, print_build_progress
    from purelink.lifecycle.deploy import DeployError

    try:
        return ensure_runtime_image(on_progress=print_build_progress).tag
    except ExecutionError as exc:  # its advice (--executor local) is about runs, not about deploying
        raise DeployError(f"The runtime image cannot be had here: {exc.message}",
                          "Start Docker (`bash scripts/docker-up.sh`) so purelink builds it, or name the image "
                          "your workers pull with --image REGISTRY/purelink-runtime:TAG.") from None


if __name__ == "__main__":
    import sys

    from purelink.cli import module_main

    sys.exit(module_main("deploy"))

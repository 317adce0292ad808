"""The runtime image: a base image with Python, a venv holding only what generated pipelines import
(httpx, duckdb, pyarrow and their dependencies) and purelink itself, run as a non-root user.

Everything is installed from wheels downloaded on the host, so it builds on engines that cannot
reach a package index (air-gapped hosts, or TLS interception that the image does not trust). The
tag is a hash of what went in, so an unchanged image is reused in milliseconds:

    >>> image = ensure_runtime_image(on_progress=print)
    >>> image.tag
    'purelink-runtime:3f0c9a1b2d4e'

The base image is a setting: `python:3.11-slim` unless `PURELINK_BASE_IMAGE` names another (for
example `purelink-base:bookworm`, built offline by `scripts/build-base-image.sh`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from purelink.errors import ExecutionError

DEFAULT_BASE_IMAGE = "python:3.11-slim"
RUNTIME_PACKAGES = ("httpx", "orjson", "duckdb", "pyarrow")  # what purelink.runtime imports; nothing else
# Drivers the runtime imports only for database sources: in the image when installed here.
OPTIONAL_RUNTIME_PACKAGES = ("adbc-driver-manager", "adbc-driver-postgresql")
SANDBOX_UID = 10001
IMAGE_REPO = "purelink-runtime"
IMAGE_LABEL = "purelink.image"
VENV = "/opt/purelink/venv"
BUILD_TIMEOUT_S = 1800
OFFLINE_BASE_IMAGE = "purelink-base:bookworm"  # what scripts/build-base-image.sh builds
OFFLINE_HINT = ("set PURELINK_BASE_IMAGE=purelink-base:bookworm after building it offline with "
                "`bash scripts/build-base-image.sh`, or let the engine reach its registry")

Progress = Callable[[str], None]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the build stream colours stderr lines


def print_build_progress(line: str) -> None:
    """The runtime image is built once per content hash (about half a minute cold): say that it
    starts and when it is done, not its 14 Dockerfile steps or pip's chatter (a failed build's
    error quotes its last lines). A terminal gets them on stderr, so stdout stays clean for
    `--format json`; a notebook on stdout, since it paints stderr red as if the build had failed."""
    if line.startswith(("Building ", "Built ", "Pulling ", "Downloading wheels")) or "failed" in line:
        in_notebook = "ipykernel" in sys.modules
        print(f"image: {line}", file=sys.stdout if in_notebook else sys.stderr, flush=True)


def base_image() -> str:
    """The image runtime images are built on: `PURELINK_BASE_IMAGE`, else python:3.11-slim."""
    return os.environ.get("PURELINK_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def cache_dir() -> Path:
    """Where downloaded wheels are kept between builds (`PURELINK_CACHE_DIR` overrides)."""
    if os.environ.get("PURELINK_CACHE_DIR"):
        return Path(os.environ["PURELINK_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "purelink"


def docker_client(timeout: float = 60):
    """A client for the engine named by DOCKER_HOST (or the local socket), or an ExecutionError."""
    try:
        import docker
    except ImportError as exc:  # the SDK is a dependency, but a broken install should still read well
        raise ExecutionError("The Docker SDK for Python is not installed.",
                             "Install it with `pip install docker`, or run with `--executor local`.") from exc
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as exc:  # any failure here means the same thing to the user: no engine
        raise ExecutionError(
            f"The Docker engine does not answer ({type(exc).__name__}).",
            "Start Docker (on these machines: `bash scripts/docker-up.sh`), or run with "
            "`--executor local` to run it here without isolation.") from exc


def runtime_requirements() -> list[str]:
    """The runtime's packages pinned to the versions installed here, so a DuckDB file written in a
    container is read by the same DuckDB in the notebook; a package missing here is left unpinned."""
    pins = []
    for name in RUNTIME_PACKAGES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    for name in OPTIONAL_RUNTIME_PACKAGES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return pins


@dataclass
class RuntimeImage:
    """A runtime image ready on the engine."""

    tag: str
    base: str
    built: bool  # False when an image with the same contents already existed
    seconds: float


def ensure_runtime_image(client=None, *, base: str | None = None, on_progress: Progress | None = None,
                         cache: Path | None = None) -> RuntimeImage:
    """An up-to-date runtime image, built first when its contents changed (progress lines go to
    `on_progress`). Raises ExecutionError saying what to do when it cannot be had."""
    say = on_progress or (lambda line: None)
    client = client or docker_client(timeout=BUILD_TIMEOUT_S)
    # Two first runs at once (two notebooks, a cron job and a notebook, parallel test workers)
    # would download the same wheels into the same folder and build the same image twice: the
    # second waits here for the first, then finds its image.
    with _host_lock(cache or cache_dir()):
        return _ensure(client, base, say, cache)


@contextlib.contextmanager
def _host_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "runtime-image.lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # no fcntl on Windows: concurrent first builds there are not serialised
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _ensure(client, base: str | None, say: Progress, cache: Path | None) -> RuntimeImage:
    started = time.monotonic()  # after the lock: the time this image took, not another's build
    base, base_id, why = _base_image_id(client, base or base_image(), say)
    requirements = runtime_requirements()
    wheels = _wheels(client, base, base_id, requirements, cache or cache_dir(), say)
    project = _stage_project()
    try:
        digest = hashlib.sha256("\n".join([base_id, *sorted(p.name for p in wheels),
                                           _tree_hash(project)]).encode()).hexdigest()[:12]
        tag = f"{IMAGE_REPO}:{digest}"
        if _exists(client, tag):
            return RuntimeImage(tag, base, built=False, seconds=time.monotonic() - started)
        # Said only now: a cache hit (every run but the first) prints nothing at all.
        say(f"Building {tag} on {base}" + (f" ({why})" if why else "") + ", once for this version of purelink")
        _build(client, tag, base, requirements, wheels, project, say)
        say(f"Built {tag} in {time.monotonic() - started:.0f} s; later runs reuse it")
    finally:
        shutil.rmtree(project.parent, ignore_errors=True)
    return RuntimeImage(tag, base, built=True, seconds=time.monotonic() - started)


def _exists(client, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def _base_image_id(client, base: str, say: Progress) -> tuple[str, str, str]:
    """(base, its image id, why that base when it is not the one asked for). The default base,
    when absent, gives way to the offline base image where that one was built: air-gapped
    engines then run pipelines in containers as they are."""
    import docker.errors

    try:
        return base, client.images.get(base).id, ""
    except docker.errors.ImageNotFound:
        pass
    if base == DEFAULT_BASE_IMAGE and not os.environ.get("PURELINK_BASE_IMAGE"):
        try:
            offline = client.images.get(OFFLINE_BASE_IMAGE).id
        except docker.errors.ImageNotFound:
            pass
        else:
            return OFFLINE_BASE_IMAGE, offline, f"{base} is not present; set PURELINK_BASE_IMAGE to choose"
    say(f"Pulling {base}")
    try:
        return base, client.images.pull(base).id, ""
    except docker.errors.APIError as exc:
        reason = getattr(exc, "explanation", None) or str(exc)
        raise ExecutionError(f"The base image {base} is not present and cannot be pulled ({reason}).",
                             f"To build without a registry, {OFFLINE_HINT}.") from exc


def _wheels(client, base: str, base_id: str, requirements: list[str], cache: Path,
            say: Progress) -> list[Path]:
    """Wheels for the base image's Python and platform, downloaded once per (base, requirements).

    A manifest records the download so the warm path costs one file read, not a pip resolve."""
    key = hashlib.sha256(json.dumps([base_id, requirements]).encode()).hexdigest()[:16]
    folder = cache / "wheels" / key
    manifest = folder / "manifest.json"
    if manifest.exists():
        names = json.loads(manifest.read_text())["wheels"]
        if all((folder / name).exists() for name in names):
            return [folder / name for name in names]
    python, glibc, machine = _probe(client, base)
    say(f"Downloading wheels for Python {python} ({machine}, glibc {glibc}): {', '.join(requirements)}")
    folder.mkdir(parents=True, exist_ok=True)
    major, minor = (int(x) for x in python.split(".")[:2])
    glibc_minor = int(glibc.split(".")[1])
    # Every manylinux tag the base's glibc can load, newest first, so pip may pick any of them.
    platforms = [f"manylinux_2_{n}_{machine}" for n in range(glibc_minor, 16, -1)] + [f"manylinux2014_{machine}"]
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
           "--python-version", f"{major}.{minor}", "--implementation", "cp", "--abi", f"cp{major}{minor}",
           *[arg for p in platforms for arg in ("--platform", p)], "--dest", str(folder), *requirements]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise ExecutionError(f"Downloading the runtime's wheels failed: {tail}",
                             "The host (not the engine) needs to reach the package index: check its "
                             "network, proxy or PIP_INDEX_URL, then retry.")
    names = sorted(p.name for p in folder.glob("*.whl"))
    manifest.write_text(json.dumps({"requirements": requirements, "python": python, "wheels": names}))
    return [folder / name for name in names]


_PROBE = ("import platform, sys; print('%d.%d' % sys.version_info[:2], platform.libc_ver()[1] or '-',"
          " platform.machine())")


def _probe(client, base: str) -> tuple[str, str, str]:
    """Python version, glibc version and machine of the base image, asked of the image itself."""
    import docker.errors

    box = client.containers.create(base, ["python3", "-c", _PROBE], network_disabled=True,
                                   labels={"purelink": "1", "purelink.pid": str(os.getpid())})
    try:
        box.start()
        code = box.wait(timeout=120)["StatusCode"]
        out = box.logs(stdout=True, stderr=False).decode().split()
    except docker.errors.APIError as exc:  # e.g. no python3 executable in the image at all
        code, out = -1, [str(exc)]
    finally:
        box.remove(force=True)
    if code != 0 or len(out) != 3:
        raise ExecutionError(f"The base image {base} has no working python3.",
                             f"Use an image with Python 3.11+ and glibc, or {OFFLINE_HINT}.")
    python, glibc, machine = out
    if glibc == "-":
        raise ExecutionError(f"The base image {base} is not glibc-based, so manylinux wheels cannot run on it.",
                             f"Use a Debian or Ubuntu based image with Python 3.11+, or {OFFLINE_HINT}.")
    return python, glibc, machine


def _stage_project() -> Path:
    """A copy of the project holding pyproject.toml and only the part of purelink that containers
    import: the package's `__init__` and `purelink.runtime` (which imports nothing else of
    purelink). The image then changes only when the runtime does, and the copy sits outside the
    work tree so the wheel build leaves no build/ or egg-info behind."""
    package = Path(__file__).resolve().parents[1]  # the purelink package
    stage = Path(tempfile.mkdtemp(prefix="purelink-image-")) / "project"
    shutil.copytree(package / "runtime", stage / "purelink" / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("__init__.py", "py.typed"):
        if (package / name).exists():
            shutil.copy2(package / name, stage / "purelink" / name)
    root = package.parent
    if (root / "pyproject.toml").exists():
        shutil.copy2(root / "pyproject.toml", stage / "pyproject.toml")
        readme = root / "README.md"
        (stage / "README.md").write_text(readme.read_text() if readme.exists() else "purelink\n")
    return stage


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _purelink_wheel(project: Path, out: Path, say: Progress) -> None:
    """Build purelink's wheel into `out`. Without a pyproject (purelink installed from a wheel) or
    when the build backend cannot be fetched (an air-gapped host), the package folder is shipped
    instead and copied into the venv: the container imports the same files either way."""
    if (project / "pyproject.toml").exists():
        cmd = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--no-deps",
               "-w", str(out), str(project)]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode == 0:
            return
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        say(f"Building purelink's wheel failed ({tail}); shipping the package folder instead")
    shutil.copytree(project / "purelink", out / "purelink")


DOCKERFILE = """\
# Generated by purelink.execution.images. Stage 1 fills a venv from local wheels only (--no-index).
FROM {base} AS deps
COPY wheels /wheels
RUN python3 -m venv {venv} && {venv}/bin/pip install --no-index --no-cache-dir --disable-pip-version-check \\
        --find-links /wheels {requirements}

FROM {base}
# A fixed non-root uid: the runner adds --user, but the image must not default to root either.
RUN (grep -q '^[^:]*:[^:]*:{uid}:' /etc/passwd || \\
        echo 'purelink:x:{uid}:{uid}:purelink sandbox:/tmp:/usr/sbin/nologin' >> /etc/passwd) \\
    && (grep -q '^[^:]*:[^:]*:{uid}:' /etc/group || echo 'purelink:x:{uid}:' >> /etc/group) \\
    && mkdir -p /pipeline /data /run/purelink
COPY --from=deps {venv} {venv}
COPY app /app
RUN if ls /app/*.whl >/dev/null 2>&1; \\
    then {venv}/bin/pip install --no-index --no-cache-dir --disable-pip-version-check --no-deps /app/*.whl; \\
    else cp -r /app/purelink "$({venv}/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"/; \\
    fi && rm -rf /app
ENV PATH={venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp LANG=C.UTF-8
USER {uid}:{uid}
WORKDIR /tmp
CMD ["python"]
"""


def _build(client, tag: str, base: str, requirements: list[str], wheels: list[Path], project: Path,
           say: Progress) -> None:
    context = project.parent / "context"
    (context / "wheels").mkdir(parents=True)
    (context / "app").mkdir()
    for wheel in wheels:  # hard links: the context is sent as a tar anyway, copying would only cost time
        try:
            os.link(wheel, context / "wheels" / wheel.name)
        except OSError:
            shutil.copy2(wheel, context / "wheels" / wheel.name)
    _purelink_wheel(project, context / "app", say)
    (context / "Dockerfile").write_text(DOCKERFILE.format(
        base=base, venv=VENV, uid=SANDBOX_UID, requirements=" ".join(f"'{r}'" for r in requirements)))
    log: list[str] = []
    try:
        for chunk in client.api.build(path=str(context), tag=tag, rm=True, forcerm=True, decode=True,
                                      pull=False, timeout=BUILD_TIMEOUT_S,
                                      labels={IMAGE_LABEL: "runtime", "purelink.base": base}):
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ExecutionError(
                    f"Building the runtime image on {base} failed: {detail.strip()}",
                    "The lines before it: " + " | ".join(log[-3:]) + f". If the base image is the problem, "
                    f"{OFFLINE_HINT}.")
            line = _ANSI.sub("", chunk.get("stream") or chunk.get("status") or "").rstrip()
            if line:
                say(line)
                if not line.lstrip().startswith(("--->", "Removing intermediate container")):
                    log.append(line.strip())  # what explains a failure; ids and housekeeping do not
    except ExecutionError:
        raise
    except Exception as exc:  # the engine went away mid-build, or refused the context
        raise ExecutionError(f"Building the runtime image failed: {exc}",
                             "Check that the Docker engine is running (`docker info`), then retry.") from exc

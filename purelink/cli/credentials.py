"""The vault for modules started by hand: `python pipelines/NAME.py` finds its key as
`purelink recipes run NAME` does (the credential's variable, the vault entry, then the source's
variable such as STRIPE_API_KEY: see `purelink.secrets.resolve.resolve_key`).

The runtime cannot import this (it runs alone inside containers); it finds `lookup` through the
entry-point group `purelink.credentials` that pyproject.toml registers.
"""

from __future__ import annotations

from purelink.errors import PurelinkError


def lookup(name: str, *, pipeline: str | None = None, workspace: str | None = None, **_: str) -> str | None:
    """The value of the credential `name` for the pipeline `pipeline` of `workspace`, or a
    CredentialError saying where to put it. Never prompts: a module may run under a scheduler."""
    from purelink.secrets.resolve import resolve_key

    source_env = None
    if pipeline and workspace:
        try:
            from purelink.engine import Engine
            from purelink.pipeline.codegen import credential_name

            engine = Engine(workspace)
            recipe = engine.recipes.load(pipeline)
            spec = engine.spec(recipe)
            if credential_name(recipe, spec) == name:
                source_env = spec.auth.env
        except PurelinkError:  # a module without its recipe still finds a vault entry by name
            pass
    return resolve_key(name, source_env, interactive=False).reveal()

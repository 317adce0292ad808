"""The vault for modules started by hand: `python pipelines/NAME.py` finds its key as
`purelink recipes run NAME` does (the credential's variable, the source's variable such as
STRIPE_API_KEY, then the vault entry).

The runtime cannot import this (it runs alone inside containers); it finds `lookup` through the
entry-point group `purelink.credentials` that pyproject.toml registers.
"""

from __future__ import annotations

from purelink.errors import PurelinkError


def lookup(name: str, *, pipeline: str | None = None, workspace: str | None = None, **_: str) -> str | None:
    """The value of the credential `name` for the pipeline `pipeline` of `workspace`, or a
    CredentialError saying where to put it. Never prompts: a module may run under a scheduler."""
    from purelink.secrets.resolve import resolve_secret

    env_vars: tuple[str, ...] = (name,)
    if pipeline and workspace:
        try:
            from purelink.engine import Engine
            from purelink.pipeline.codegen import credential_name

            engine = Engine(workspace)
            recipe = engine.recipes.load(pipeline)
            spec = engine.spec(recipe)
            if credential_name(recipe, spec) == name and spec.auth.env:
                env_vars = tuple(dict.fromkeys((name, spec.auth.env)))
        except PurelinkError:  # a module without its recipe still finds a vault entry by name
            pass
    return resolve_secret(name, env_vars=env_vars, interactive=False).reveal()

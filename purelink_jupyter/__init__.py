"""Purelink's notebook layer: the `%purelink` magics, the wizard, the live monitor.

`%load_ext purelink` (or `%load_ext purelink_jupyter`) registers the magics. Arrows point one way:
this package imports `purelink`; the engine never imports it.
"""

from __future__ import annotations

__all__ = ["load_ipython_extension", "unload_ipython_extension"]

_loaded: dict[int, object] = {}


def load_ipython_extension(ipython) -> None:
    """Register `%purelink` / `%%purelink` and the `Purelink` configurable (once per shell)."""
    from traitlets import TraitError

    from purelink_jupyter.magics import Purelink

    if id(ipython) in _loaded:
        return
    try:
        magics = Purelink(shell=ipython)
    except TraitError as exc:  # a bad `%config Purelink.x = ...` from earlier must not block loading
        ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, Purelink)]
        ipython.config.pop("Purelink", None)
        print(f"purelink: ignoring the earlier %config Purelink settings: {exc}")
        magics = Purelink(shell=ipython)
    ipython.register_magics(magics)
    _loaded[id(ipython)] = magics


def unload_ipython_extension(ipython) -> None:
    magics = _loaded.pop(id(ipython), None)
    if magics is None:
        return
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("purelink", None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)

"""Stage 1 for an API not in the catalog: propose a connector from its OpenAPI document, ask the
unsure guesses, save what the user confirmed. A part of `Session` (see `session.py`)."""

from __future__ import annotations

import os
from typing import Any

from purelink.catalog.spec import ConnectorSpec
from purelink.wizard.models import SessionError


class OpenAPIImport:
    """`Session`'s OpenAPI import methods; they use its workspace, state and `choose_source`."""

    _proposal: Any = None

    def import_openapi(self, location: str | os.PathLike, *, name: str | None = None,
                       base_url: str | None = None):
        """Propose a connector from an OpenAPI 3 document; nothing is used before `confirm_import`."""
        from purelink.catalog.openapi import import_openapi

        self._proposal = import_openapi(location, name=name, base_url=base_url)
        return self._proposal

    def import_questions(self, streams: list[str] | None = None) -> list:
        """The pending import's guesses below 80% (for the chosen streams): each is shown to the
        user as a question; `confirm_import({FIELD: answer})` applies the answers."""
        if self._proposal is None:
            raise SessionError("There is no OpenAPI import to ask about.", "Call import_openapi(PATH_OR_URL) first.")
        return self._proposal.questions(streams)

    def confirm_import(self, changes: dict[str, Any] | None = None) -> ConnectorSpec:
        """Accept the proposal (with the user's corrections), save it as `connectors/NAME.yaml`, choose it."""
        from purelink.catalog.openapi import save_spec

        if self._proposal is None:
            raise SessionError("There is no OpenAPI import to confirm.",
                               "Call import_openapi(PATH_OR_URL) first.")
        spec = self._proposal.confirm(changes)
        save_spec(spec, self.workspace.root, origin=self._proposal.location)
        self.choose_source(spec.name)
        self.state.imported_from = self._proposal.location
        self._proposal = None
        self.save()
        return spec

"""Event types and their schemas (router.control.contracts) on the nodes that take publishes,
and this router as an AsyncAPI document (router.observe.asyncapi)."""

from __future__ import annotations

from typing import Any

from router.control import reach
from router.core.model import TypeSchema, UserRecord
from router.facade.base import Parts
from router.observe import asyncapi


class EventTypes(Parts):
    __slots__ = ()

    async def register_type(
        self,
        pattern: str,
        schema: str,
        mode: str = "",
        description: str = "",
        owner: str = "",
        *,
        by: str = "",
        force: bool = False,
    ) -> TypeSchema:
        """A new version of an event type's contract (router.control.contracts), checked from the
        next publish on; one narrower than the current is refused unless ``force``."""
        self._serves("event types", "all", "ingest")
        return await self.contracts.register(
            pattern, schema, mode, description, owner, by=by, force=force
        )

    async def delete_type(self, pattern: str) -> None:
        self._serves("event types", "all", "ingest")
        await self.contracts.delete(pattern)

    def type_schema(self, pattern: str, version: int = 0) -> TypeSchema:
        return self.contracts.current(pattern, version)

    def list_types(self) -> list[TypeSchema]:
        return self.contracts.listed()

    def asyncapi(self, by: UserRecord | None = None) -> dict[str, Any]:
        """This router as an AsyncAPI 3.0 document (router.observe.asyncapi), as ``by`` (None: auth is
        off) may see it: every event type, and the exchanges it may monitor or consume."""
        exchanges = [actor.record for actor in self.dispatcher.exchanges.values()]
        shown = [e for e in exchanges if reach.sees_exchange(by, e.name)]
        return asyncapi.document(self.settings, shown, self.contracts.listed())

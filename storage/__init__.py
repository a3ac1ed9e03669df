"""Storage behind one interface (:class:`storage.base.Storage`), chosen by URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.core.urls import db_url, redact
from storage.base import Reader, Storage, StorageUnavailable

if TYPE_CHECKING:
    from storage.leadership import Lease


def open_storage(url: str, route_node: str | None = None, lease: Lease | None = None) -> Storage:
    """Open the store named by ``url``: ``sqlite:///path`` or ``postgresql://...``.

    With ``route_node``, the store of a route node of that name (PostgreSQL only: it shares the
    ingest node's event log). With ``lease``, a leader's PostgreSQL store, writing only while
    it leads (storage.leadership). The scheme is read in any case, as ``--db`` takes it.
    """
    url = db_url(url)
    if route_node is not None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "db: a route node shares the ingest node's PostgreSQL; give its postgresql:// URL"
            )
        from storage.postgres import PostgresRouteStorage

        return PostgresRouteStorage(url, route_node)
    if url.startswith("sqlite:"):
        from storage.sqlite import SqliteStorage

        return SqliteStorage(url)
    if url.startswith(("postgresql://", "postgres://")):
        from storage.postgres import PostgresStorage

        return PostgresStorage(url, lease)
    raise ValueError(
        f"db: unsupported URL {redact(url)!r} (use sqlite:///path or postgresql://...)"
    )


__all__ = ["Reader", "Storage", "StorageUnavailable", "open_storage"]

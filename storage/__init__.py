"""Storage behind one interface (:class:`storage.base.Storage`), chosen by URL."""

from __future__ import annotations

from storage.base import Reader, Storage, StorageUnavailable


def open_storage(url: str) -> Storage:
    """Open the store named by ``url``: ``sqlite:///path`` or ``postgresql://...``."""
    if url.startswith("sqlite:"):
        from storage.sqlite import SqliteStorage

        return SqliteStorage(url)
    if url.startswith(("postgresql://", "postgres://")):
        from storage.postgres import PostgresStorage

        return PostgresStorage(url)
    raise ValueError(f"db: unsupported URL {url!r} (use sqlite:///path or postgresql://...)")


__all__ = ["Reader", "Storage", "StorageUnavailable", "open_storage"]

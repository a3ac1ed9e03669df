"""The production store: PostgreSQL through psycopg 3's synchronous driver.

Its parts, each owning one job: the connection (``connection``), replay (``reader``), a commit's
writes (``writes``), the day partitions and removal's clean-up (``days``), migrations
(``upgrade``), the ingest node's writer (``store``) and a route node's (``route``).
"""

from __future__ import annotations

from storage.postgres.days import DAY_US
from storage.postgres.reader import PostgresReader
from storage.postgres.route import PostgresRouteStorage
from storage.postgres.store import PostgresStorage
from storage.postgres.writes import FEW_EVENTS

__all__ = ["DAY_US", "FEW_EVENTS", "PostgresReader", "PostgresRouteStorage", "PostgresStorage"]

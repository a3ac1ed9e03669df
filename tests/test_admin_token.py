"""Where the first start's admin token goes: beside the SQLite file the store opens."""

from __future__ import annotations

from router.core.settings import Settings
from router.node.admin_token import token_path
from storage.sqlite import path_from_url


def test_the_token_sits_beside_the_file_the_sqlite_store_opens() -> None:
    for url in ("sqlite:///", "sqlite:///data/r.db", "sqlite:////var/lib/r.db"):
        assert token_path(Settings(db_url=url)) == path_from_url(url) + ".admin-token"
    assert token_path(Settings(db_url="sqlite:///")) == "router.db.admin-token"
    assert token_path(Settings(db_url="SQLite:////var/lib/r.db")) == "/var/lib/r.db.admin-token"


def test_postgresql_has_a_relative_default_and_a_given_file_wins() -> None:
    assert token_path(Settings(db_url="postgresql://u@db/x")) == "router-admin-token"
    given = Settings(db_url="postgresql://u@db/x", admin_token_file="/var/lib/router/token")
    assert token_path(given) == "/var/lib/router/token"

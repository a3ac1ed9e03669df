"""Which store a URL opens: the scheme read in any case, as ``--db`` takes it."""

from __future__ import annotations

import pytest

from router.core.urls import check_db_url
from storage import open_storage


def test_a_scheme_in_capitals_opens_the_store_it_names(db_url: str) -> None:
    scheme, separator, rest = db_url.partition("://")
    shouted = f"{scheme.upper()}{separator}{rest}"
    assert check_db_url(shouted)
    storage = open_storage(shouted)
    try:
        storage.migrate()
    finally:
        storage.close()


def test_an_unknown_scheme_is_refused_in_one_line_without_its_password() -> None:
    with pytest.raises(ValueError, match=r"^db: unsupported URL 'mysql://u:\*\*\*@h/x'") as info:
        open_storage("mysql://u:s3cret@h/x")
    assert "\n" not in str(info.value)

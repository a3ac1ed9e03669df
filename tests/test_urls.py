"""URLs as the router shows them: every credential as ***, whatever its place."""

from __future__ import annotations

import pytest

from router.errors import InvalidArgument
from router.urls import check_db_url, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql://app@db/x?password=s3cret", "postgresql://app@db/x?password=***"),
        (
            "postgresql://db/x?sslmode=require&sslpassword=s3cret&PASSWORD=s3cret",
            "postgresql://db/x?sslmode=require&sslpassword=***&PASSWORD=***",
        ),
        ("postgresql://a:s3cret@h1:5432,h2:5432/x", "postgresql://a:***@h1:5432,h2:5432/x"),
        ("amqp://guest:s3cret@rabbit/%2f", "amqp://guest:***@rabbit/%2f"),
        ("mysql://u:s3cret@host/db?token=s3cret", "mysql://u:***@host/db?token=***"),
        ("sqlite:///var/lib/router.db", "sqlite:///var/lib/router.db"),
        ("postgresql://db/x?password=s3cret#frag", "postgresql://db/x?password=***#***"),
    ],
)
def test_credentials_are_hidden(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cret" not in redact(url)


def test_an_unknown_scheme_is_refused_naming_the_flag_without_its_password() -> None:
    with pytest.raises(InvalidArgument, match=r"^--db: 'mysql://u:\*\*\*@host/x' is not") as info:
        check_db_url("mysql://u:s3cret@host/x")
    assert "s3cret" not in str(info.value)
    assert check_db_url("postgres://h/x") == "postgres://h/x"

"""URLs as the router shows them: every credential as ***, whatever its place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from router.core.errors import InvalidArgument
from router.core.settings import Settings
from router.core.urls import check_db_url, redact


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
        ("postgresql://db/x?pass%77ord=s3cret&a=1", "postgresql://db/x?pass%77ord=***&a=1"),
        ("postgresql://db/x?password=s3cret#s3cret", "postgresql://db/x?password=***#***"),
        ("postgresql://db?password=s3cret&x=a@b", "postgresql://db?password=***&x=a@b"),
        ("postgresql://db?password=s3:cret&x=a@b/x", "postgresql://db?password=***:***@b/x"),
        ("host=db password=s3cret user=u", "host=db password=*** user=u"),
        ("host=db password = 's3 cret' port=1", "host=db password = *** port=1"),
    ],
)
def test_credentials_are_hidden(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cret" not in redact(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3#cret@db/x", "postgresql://u:***@db/x"),
        ("postgresql://u:s3?cret@db/x", "postgresql://u:***@db/x"),
        ("postgresql://u:s3?cret@db", "postgresql://u:***@db"),
        ("postgresql://u:s3:cret@db/x", "postgresql://u:***@db/x"),
        ("postgresql://u:s3cret@pa@db/x", "postgresql://u:***@db/x"),
        ("postgresql://u:s3#cret@h1:5432,h2:5433/x", "postgresql://u:***@h1:5432,h2:5433/x"),
        (
            "postgresql://u:s3?cret@h1,h2/x?target_session_attrs=any&sslpassword=s3cret",
            "postgresql://u:***@h1,h2/x?target_session_attrs=any&sslpassword=***",
        ),
    ],
)
def test_a_password_is_hidden_whatever_it_holds(url: str, shown: str) -> None:
    """The user part ends where libpq ends it (an @ before the first /), not at a # or ? that
    a browser-style parser would stop at; what libpq reads as the password is never shown."""
    assert redact(url) == shown
    password = conninfo_to_dict(url).get("password")
    assert password and password not in redact(url)


def test_an_unknown_scheme_is_refused_naming_the_flag_without_its_password() -> None:
    with pytest.raises(InvalidArgument, match=r"^--db: 'mysql://u:\*\*\*@host/x' is not") as info:
        check_db_url("mysql://u:s3cret@host/x")
    assert "s3cret" not in str(info.value)
    assert check_db_url("postgres://h/x") == "postgres://h/x"


def test_a_scheme_in_any_case_is_taken_and_given_back_as_libpq_reads_it() -> None:
    assert check_db_url("POSTGRESQL://u:s3cret@h/x") == "postgresql://u:s3cret@h/x"
    assert conninfo_to_dict(check_db_url("Postgres://u@h/x"))["host"] == "h"
    assert check_db_url("SQLite:///var/lib/Router.db") == "sqlite:///var/lib/Router.db"


@given(st.text(alphabet="ab#?:@&=;.,[]", max_size=12), st.text(alphabet="ab#?:@=.", max_size=8))
def test_no_part_of_any_password_is_shown(middle: str, query: str) -> None:
    """Whatever a password holds (but /, which ends the user part for libpq and any parser), and
    wherever libpq ends it, no part of it shows; nor of a query's password."""
    url = f"postgresql://u:Z9{middle}Z9@h1:5432,h2/x?sslmode=require&password=Q7{query}"
    assert "Z9" not in redact(url) and "Q7" not in redact(url)
    assert redact(url).startswith("postgresql://u:***@")


def test_settings_hold_the_scheme_in_lower_case_however_made() -> None:
    settings = Settings(db_url="POSTGRESQL://u@h/x")
    assert settings.db_url == "postgresql://u@h/x" and settings.elects  # PostgreSQL: it leads
    assert Settings(db_url="SQLITE:///r.db").db_url == "sqlite:///r.db"

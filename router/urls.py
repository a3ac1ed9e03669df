"""Database and broker URLs as they may be shown: every credential replaced by ``***``.

A URL reaches the log (``router ready db=...``), error messages and the audit trail; its
password may sit in the user part (``postgresql://app:secret@db/x``) or in the query
(``?password=secret``, ``sslpassword=``), and a URL of an unknown scheme may hold either.
"""

from __future__ import annotations

import re

from router.errors import InvalidArgument

DB_SCHEMES = ("sqlite", "postgresql", "postgres")
# Query parameters that carry a secret (libpq's password and sslpassword; a token, a key).
_SECRET = re.compile(r"(?i)(^|[&;])([^=&;]*(?:password|passwd|pwd|secret|token|key))=[^&;]*")


def redact(url: str) -> str:
    """``url`` with the password of its user part and every secret query parameter as ***."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    location = re.match(r"[^/?#]*", rest)
    netloc = location.group() if location else ""
    after = rest[len(netloc) :]
    if "@" in netloc:
        credentials, hosts = netloc.rsplit("@", 1)
        if ":" in credentials:
            netloc = f"{credentials.split(':', 1)[0]}:***@{hosts}"
    path, mark, query = after.partition("?")
    if mark:
        query, hash_mark, _ = query.partition("#")
        after = path + mark + _SECRET.sub(r"\1\2=***", query) + (hash_mark and "#***")
    return f"{scheme}{separator}{netloc}{after}"


def check_db_url(url: str, field: str = "--db") -> str:
    """``url`` if its scheme is one the router stores in; else InvalidArgument naming ``field``
    and showing the URL redacted."""
    scheme = url.partition(":")[0].lower()
    if scheme not in DB_SCHEMES or "://" not in url:
        raise InvalidArgument(
            f"{field}: {redact(url)!r} is not a database URL the router knows"
            " (sqlite:///path or postgresql://...)"
        )
    return url

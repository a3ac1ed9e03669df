"""Database and broker URLs as they may be shown: every credential replaced by ``***``.

A URL reaches the log (``router ready db=...``), error messages and the audit trail; its
password may sit in the user part (``postgresql://app:secret@db/x``) or in the query
(``?password=secret``, ``sslpassword=``), and a URL of an unknown scheme may hold either.
"""

from __future__ import annotations

import re
import urllib.parse

from router.core.errors import InvalidArgument

DB_SCHEMES = ("sqlite", "postgresql", "postgres")
# Names of parameters that carry a secret (libpq's password and sslpassword; a token, a key).
_SECRET_NAME = re.compile(r"(?i).*(?:password|passwd|pwd|secret|token|key)")
# One query parameter (libpq splits the query at '&' only; ';' is split too, to be safe).
_PARAMETER = re.compile(r"(^|[&;])([^=&;]*)=([^&;]*)")
# One keyword=value pair of a libpq connection string (value bare or single-quoted).
_KEYWORD = re.compile(r"""([A-Za-z_][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s']*)""")


def _hide_parameter(match: re.Match[str]) -> str:
    lead, name, _ = match.groups()
    if _SECRET_NAME.fullmatch(urllib.parse.unquote(name)):
        return f"{lead}{name}=***"
    return match.group()


def _hide_keyword(match: re.Match[str]) -> str:
    name, equals, _ = match.groups()
    return f"{name}{equals}***" if _SECRET_NAME.fullmatch(name) else match.group()


def redact(url: str) -> str:
    """``url`` with the password of its user part and every secret query parameter as ***.

    The user part is found as libpq finds it: before an ``@`` that comes before the first
    ``/`` after ``scheme://``, so that ``#``, ``?``, ``:`` and ``@`` inside a password are
    hidden with it. libpq ends the user part at the first such ``@`` and a browser-style parser
    at the last one in its host part: everything up to the last one is hidden, which covers
    both. A query (whatever follows a ``?``, after the ``@`` or before it) has each parameter
    whose name (percent-decoded) says password, secret, token or key hidden, and a ``#``
    fragment in it hidden whole. Text with no ``://`` is read as a libpq ``key=value`` string."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _KEYWORD.sub(_hide_keyword, url)
    slash = rest.find("/")
    at = rest.rfind("@", 0, slash if slash >= 0 else len(rest))
    shown, after = "", rest
    if at >= 0:  # a query before the @ is the user's to libpq, but may still hold a secret
        credentials, after = rest[:at], rest[at + 1 :]
        user, colon, _ = credentials.partition(":")
        shown = f"{_hide_query(user)}:***@" if colon else f"{_hide_query(credentials)}@"
    return f"{scheme}{separator}{shown}{_hide_query(after)}"


def _hide_query(text: str) -> str:
    """``text`` with each secret parameter of its query (after the first ``?``) as ***, and a
    ``#`` fragment after it as ***."""
    path, mark, query = text.partition("?")
    if not mark:
        return text
    query, hash_mark, _ = query.partition("#")
    return path + mark + _PARAMETER.sub(_hide_parameter, query) + (hash_mark and "#***")


def db_url(url: str) -> str:
    """``url`` with its scheme in lower case, as libpq and the stores read it (libpq refuses
    ``POSTGRESQL://``); any other text unchanged."""
    scheme, separator, rest = url.partition("://")
    return f"{scheme.lower()}{separator}{rest}" if separator else url


def check_db_url(url: str, field: str = "--db") -> str:
    """``url`` (its scheme in lower case) if its scheme is one the router stores in, in any
    case; else InvalidArgument naming ``field`` and showing the URL redacted."""
    scheme = url.partition(":")[0].lower()
    if scheme not in DB_SCHEMES or "://" not in url:
        raise InvalidArgument(
            f"{field}: {redact(url)!r} is not a database URL the router knows"
            " (sqlite:///path or postgresql://...)"
        )
    return db_url(url)

"""Where the first start puts the token it makes for user ``admin``: a file only its owner may
read, never the terminal or the log (which a service manager keeps and ships).

A token the operator supplied (``ROUTER_ADMIN_TOKEN``) is theirs already: it is neither written
nor shown. A token the router makes is written to ``--admin-token-file`` (env
``ROUTER_ADMIN_TOKEN_FILE``; by default beside a SQLite database, ``<db>.admin-token``, or
``./router-admin-token`` for PostgreSQL) before the user is stored, so that a token nobody can
read is never stored: when the file can not be written, the start fails saying so.
"""

from __future__ import annotations

import os
import sys
import tempfile

from router.core.errors import InvalidArgument
from router.core.settings import Settings
from storage.sqlite import path_from_url


def token_path(settings: Settings) -> str:
    """The file that receives a token the first start makes."""
    if settings.admin_token_file:
        return settings.admin_token_file
    if settings.db_url.startswith("sqlite:///"):  # Settings hold the scheme in lower case
        return path_from_url(settings.db_url) + ".admin-token"
    return "router-admin-token"  # relative: under systemd (in /) give --admin-token-file


def keep(path: str, text: str) -> None:
    """Write ``text`` to ``path``, readable and writable by its owner only (0600): written to a
    new file beside it, then renamed over it, so that no reader ever sees a wider mode or half
    a token. InvalidArgument naming the flag when it can not be written."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=".admin-token.", dir=folder)  # 0600
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text + "\n")
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        raise InvalidArgument(
            f"--admin-token-file: cannot write the first admin token to {path}: {error.strerror}"
        ) from None


def announce(path: str) -> None:
    """Say where the token is (on stderr, once): the path, never the token."""
    print(
        "\n  First start: created user 'admin'. Its token is in a file only you may read:\n"
        f"\n    {os.path.abspath(path)}\n\n  export ROUTER_TOKEN=$(cat {path})\n",
        file=sys.stderr,
        flush=True,
    )

"""Free text callers send that the router stores (park reasons, descriptions, owners): text
both stores can hold.

PostgreSQL's ``text`` refuses a NUL character, and neither store can encode a lone surrogate
(which JSON's ``"\\ud800"`` escape makes). Such text is refused with InvalidArgument naming the
field before anything is written, rather than failing the store's write (which would answer
503 and mark the router unready until its next commit).
"""

from __future__ import annotations

from router.core.errors import InvalidArgument


def storable(text: str, field: str) -> str:
    """``text`` if a store can hold it; else InvalidArgument naming ``field``."""
    if "\x00" in text:
        raise InvalidArgument(f"{field}: a NUL character (\\x00) can not be stored")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{field}: not valid Unicode (a lone surrogate)") from None
    return text

"""The AsyncAPI 3.0.0 JSON Schema, to validate the router's document against: taken from the
specification's own npm package (@asyncapi/specs), downloaded once from the npm registry into
~/.cache/event-router and checked against a pinned SHA-256."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tarfile
import urllib.request
from typing import Any

import pytest

PACKAGE = "https://registry.npmjs.org/@asyncapi/specs/-/specs-6.11.1.tgz"
SHA256 = "01af8744dc33c0c7eb2e908f6a955319ee58b70ecadc9387d1aeb16c0cd28928"
MEMBER = "package/schemas/3.0.0-without-$id.json"  # its references are all inside the file
CACHE = pathlib.Path.home() / ".cache" / "event-router" / "asyncapi-3.0.0-schema.json"


def asyncapi_schema() -> dict[str, Any]:
    if not CACHE.exists():
        try:
            with urllib.request.urlopen(PACKAGE, timeout=60) as response:
                packed = response.read()
        except OSError as error:
            if os.environ.get("CI") == "true":
                pytest.fail(f"the AsyncAPI schema package could not be fetched: {error}")
            # Outside CI a developer's machine may reach PyPI but not the npm registry, and the
            # schema comes from nowhere else; CI reaches it, and there this test fails instead.
            pytest.skip(f"the AsyncAPI schema package could not be fetched: {error}")
        assert hashlib.sha256(packed).hexdigest() == SHA256, "the package is not the pinned one"
        with tarfile.open(fileobj=io.BytesIO(packed)) as archive:
            member = archive.extractfile(MEMBER)
            assert member is not None
            text = member.read()
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        partial = CACHE.with_suffix(".partial")
        partial.write_bytes(text)
        partial.replace(CACHE)
    found: dict[str, Any] = json.loads(CACHE.read_text())
    return found

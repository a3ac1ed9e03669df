"""The REST API (see :mod:`router.http.app`)."""

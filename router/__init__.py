"""A durable event router on Trio.

The service lives in :mod:`router.app`; programs use :mod:`router.client`; operators the ``router``
command (:mod:`router.cli`). This package's ``__init__`` stays light so the actors and storage
packages can import the shared model without pulling in the edges.
"""

__version__ = "0.2.0"

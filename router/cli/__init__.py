"""The ``router`` command."""

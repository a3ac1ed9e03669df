"""Every ``router serve`` flag can come from the environment: ``--amqp-url`` from
``ROUTER_AMQP_URL`` and so on (``ROUTER_`` and the flag's name in capitals, ``-`` as ``_``), so
that secrets stay out of the process list and a unit file or container sets the rest.

A flag on the command line wins over its variable; ``--help`` names each variable with the
default in force (a secret's value is never shown: only that it is set).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.core.errors import InvalidArgument

Flag = tuple[tuple[str, ...], dict[str, Any]]
SECRETS = frozenset({"--db", "--amqp-url", "--upstream-token"})  # may hold a password or token
_OFF = ("", "0", "false", "no", "off")


def variable(flag: str) -> str:
    """``--amqp-url`` -> ``ROUTER_AMQP_URL``."""
    return "ROUTER_" + flag.removeprefix("--").replace("-", "_").upper()


def from_environment(flag: Flag, environment: Mapping[str, str]) -> Flag:
    """``flag`` with its default taken from its variable when set, and its help saying both.

    Options beyond ``add_argument``'s: ``shown_default``, how the default reads in the help
    when it is not the value itself (a default computed later)."""
    names, given = flag
    options = dict(given)
    shown = options.pop("shown_default", None)
    name = variable(names[0])
    value = environment.get(name)
    action = options.get("action")
    if value is not None:
        if action == "store_true":
            options["default"] = value.strip().lower() not in _OFF
        elif action == "append":
            options["default"] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            options["default"] = value  # argparse applies ``type`` to a string default
    default = options.get("default")
    if names[0] in SECRETS and value:
        shown = f"set by {name}"
    elif value is not None or shown is None:
        shown = _shown(action, default)
    help = options.get("help", "").rstrip()
    shown = shown.replace("%", "%%")  # argparse formats help with %: a value may hold one
    options["help"] = f"{help} (env {name}; default: {shown})".lstrip()
    return names, options


def check_choices(flags: tuple[Flag, ...], values: Mapping[str, Any]) -> None:
    """argparse checks a flag's choices only when given on the command line: check the values
    that came from the environment too, naming the variable."""
    for names, options in flags:
        choices = options.get("choices")
        key = names[0].removeprefix("--").replace("-", "_")
        if choices is not None and values.get(key) not in choices:
            raise InvalidArgument(
                f"{variable(names[0])}: {values.get(key)!r} is not one of {', '.join(choices)}"
            )


def _shown(action: Any, default: Any) -> str:
    if action == "store_true":
        return "on" if default else "off"
    if default is None or default == "":
        return "none"
    if isinstance(default, list):
        return ",".join(default)
    return str(default)

"""The backends by name ("serial", "octoprint", "sim"); a backend module registers itself.

Adding a backend means adding a module to `printers/` that calls `@register("name")`;
`backend(name)` imports every module of the package once, so nothing here lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from printers.errors import UnknownBackend
from printers.interface import Printer

_BACKENDS: dict[str, type[Printer]] = {}
_discovered = False
P = TypeVar("P", bound=type[Printer])


def register(name: str) -> Callable[[P], P]:
    """Class decorator: make a `Printer` subclass available as `backend(name)`."""

    def add(cls: P) -> P:
        cls.backend_name = name
        _BACKENDS[name] = cls
        return cls

    return add


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    import printers

    for module in pkgutil.iter_modules(printers.__path__):
        importlib.import_module(f"printers.{module.name}")
    _discovered = True


def names() -> list[str]:
    """Every registered backend name, sorted."""
    _discover()
    return sorted(_BACKENDS)


def backend(name: str) -> type[Printer]:
    """The `Printer` class registered as `name`; UnknownBackend otherwise."""
    _discover()
    try:
        return _BACKENDS[name]
    except KeyError:
        raise UnknownBackend("printer", name, f"is not a backend (known: {names()})") from None


def open_printer(name: str, **settings: Any) -> Printer:
    """A new, not yet connected printer of backend `name` built from its settings."""
    return backend(name)(**settings)

"""Lazy re-exports for a package's `__init__` (PEP 562): a name's module is imported when used.

So `from printmed.manufacture import dose_for` loads the dose arithmetic, not the slicer beside it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """`__getattr__`, `__dir__` and `__all__` of the package whose `globals()` is `namespace`.

    `exports` maps each module to the names the package re-exports from it. A name once looked
    up is kept in the package, so its module is imported once and later lookups are plain
    attributes; a name not listed is an AttributeError (and `from package import submodule`
    still finds the submodule).
    """
    package = namespace["__name__"]
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__, sorted(module_of)

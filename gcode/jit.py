"""numba, as the slicer's and the reader's kernels import it.

When numba first loads a compiled kernel (from its cache or not) it asks two questions whose
answers no kernel here uses, and answering them costs a fifth of a `printmed make`:
- numba.np.arraymath asks whether a BLAS is available by importing scipy.linalg (and with it
  numpy.f2py), ~0.1 s. Only np.dot, np.linalg and the `@` operator inside a kernel use it.
- numba.core.typing.cffi_utils builds a cffi.FFI (and with it pycparser's C parser), ~0.05 s,
  to recognise cffi functions passed to a kernel.
No kernel here does either (tests/gcode/test_jit.py reads them), so unless the library is
already loaded each question is answered "no" without loading it. Only numba's probe is
skipped: scipy and cffi import as usual for anyone else, before or after.
"""

from __future__ import annotations

import importlib
import sys

import numba


def _import_without(module: str, probe: str, already: str) -> None:
    """Import numba's `module` with `probe` unimportable, unless `already` is loaded."""
    if module in sys.modules or already in sys.modules:
        return
    sys.modules[probe] = None  # type: ignore[assignment]  # importing it raises ImportError
    try:
        importlib.import_module(module)
    finally:
        del sys.modules[probe]


_import_without("numba.np.arraymath", probe="scipy.linalg.cython_blas", already="scipy.linalg")
_import_without("numba.core.typing.cffi_utils", probe="cffi", already="cffi")

__all__ = ["numba"]

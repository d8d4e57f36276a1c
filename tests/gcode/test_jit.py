"""gcode.jit answers numba's BLAS and cffi probes "no" without loading scipy or cffi; that holds
only while no kernel uses what the answers decide, so the kernels are read here."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

import gcode
from gcode import cut, fill, fixed, moves, replay, scan, weld

REPO = Path(__file__).resolve().parents[2]
KERNEL_MODULES = (cut, fill, fixed, moves, replay, scan, weld)
# what numba types with BLAS (np.dot, np.linalg, the @ operator) or through cffi
BLAS_NAMES = {"dot", "vdot", "inner", "outer", "matmul", "linalg", "kron", "tensordot", "cffi"}


def kernels() -> list[tuple[str, CPUDispatcher]]:
    found = [
        (f"{module.__name__}.{name}", value)
        for module in KERNEL_MODULES
        for name, value in vars(module).items()
        if isinstance(value, CPUDispatcher)
    ]
    return sorted(found, key=lambda item: item[0])


def what_it_uses(source: str) -> list[str]:
    uses = []
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            uses.append("@")
        elif isinstance(node, ast.Attribute) and node.attr in BLAS_NAMES:
            uses.append(node.attr)
        elif isinstance(node, ast.Name) and node.id in BLAS_NAMES:
            uses.append(node.id)
    return uses


def test_every_kernel_module_is_read() -> None:
    """A new module of kernels must be added to KERNEL_MODULES, or it is not read below."""
    importing_numba = sorted(
        path.stem
        for path in Path(gcode.__file__).parent.glob("*.py")
        if "from gcode.jit import numba" in path.read_text()
    )
    assert importing_numba == sorted(m.__name__.split(".")[-1] for m in KERNEL_MODULES)
    assert len(kernels()) >= 20


@pytest.mark.parametrize("name, kernel", kernels(), ids=[name for name, _ in kernels()])
def test_no_kernel_uses_blas_or_cffi(name: str, kernel: CPUDispatcher) -> None:
    assert what_it_uses(inspect.getsource(kernel.py_func)) == []


def test_the_reader_of_kernels_sees_a_matrix_product() -> None:
    """The check above can fail."""
    assert what_it_uses("def f(a, b):\n    return np.dot(a, b) + a @ b\n") == ["@", "dot"]


def test_loading_the_kernels_loads_neither_scipy_linalg_nor_cffi_and_they_still_import() -> None:
    code = (
        "import sys, gcode.write, gcode.analyze\n"
        "assert 'numba.np.arraymath' in sys.modules\n"
        "probed = ('scipy.linalg', 'cffi', 'pycparser')\n"
        "print(sorted(m for m in sys.modules if m.startswith(probed)))\n"
        "import scipy.linalg.cython_blas, cffi\n"  # anyone else still gets them
        "print(cffi.FFI is not None)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "True"]

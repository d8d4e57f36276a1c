"""Decimal text of floats exactly as Python's `f"{v:.{n}f}"` writes it, from compiled code, so the
writer can format whole plates at once and stay byte-identical to its line-by-line self.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from gcode.jit import numba

LARGEST_SCALED = 2.0**52  # |v| × 10**decimals below this: every step below is exact
POWERS_OF_TEN = np.array([10.0**k for k in range(23)])  # exact in binary64 up to 10**22
INT_POWERS_OF_TEN = np.array([10**k for k in range(19)], dtype=np.int64)
_SPLIT = 134217729.0  # 2**27 + 1: Dekker's split of a double into two 26-bit halves


@numba.njit(cache=True, inline="always")
def _product_error(a: float, b: float, product: float) -> float:
    """a × b − fl(a × b), exactly (Dekker's two-product; no overflow in the writer's range)."""
    t = _SPLIT * a
    a_hi = t - (t - a)
    a_lo = a - a_hi
    t = _SPLIT * b
    b_hi = t - (t - b)
    b_lo = b - b_hi
    return ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


@numba.njit(cache=True)
def scaled_integer(value: float, decimals: int) -> int:
    """|value| × 10**decimals rounded to the nearest integer, ties to even, on the exact value of
    the double (as printf does); -1 when it is not finite or not below LARGEST_SCALED."""
    magnitude = abs(value)
    scale = POWERS_OF_TEN[decimals]
    high = magnitude * scale
    if not high < LARGEST_SCALED:  # NaN too
        return -1
    low = _product_error(magnitude, scale, high)  # exact: magnitude × scale = high + low
    whole = math.floor(high)
    # the fraction's distance from one half; exact where it matters (Sterbenz), so is its sign
    above_half = ((high - whole) - 0.5) + low
    n = int(whole)
    if above_half > 0 or (above_half == 0 and n % 2 == 1):
        n += 1
    return n


@numba.njit(cache=True)
def put_fixed(out: npt.NDArray[np.uint8], at: int, value: float, decimals: int) -> int:
    """Write `f"{value:.{decimals}f}"` into `out` from byte `at`; the end, or -1 if out of range."""
    n = scaled_integer(value, decimals)
    if n < 0:
        return -1
    if math.copysign(1.0, value) < 0:  # "-0.000" as Python writes a small negative number
        out[at] = 45
        at += 1
    whole, fraction = divmod(n, INT_POWERS_OF_TEN[decimals])
    digits = 1
    while digits < 19 and whole >= INT_POWERS_OF_TEN[digits]:
        digits += 1
    # digits from the right: a division by the constant 10 is a multiplication
    for k in range(digits - 1, -1, -1):
        out[at + k] = 48 + whole % 10
        whole //= 10
    at += digits
    if decimals:
        out[at] = 46
        for k in range(decimals, 0, -1):
            out[at + k] = 48 + fraction % 10
            fraction //= 10
        at += decimals + 1
    return at


@numba.njit(cache=True)
def as_written(value: float, decimals: int) -> float:
    """`float(f"{value:.{decimals}f}")`: the place the file states for `value` (NaN if out of
    range)."""
    n = scaled_integer(value, decimals)
    if n < 0:
        return math.nan
    written = n / POWERS_OF_TEN[decimals]  # correctly rounded, as float() of the text is
    return -written if math.copysign(1.0, value) < 0 else written


def format_fixed(value: float, decimals: int) -> str:
    """`f"{value:.{decimals}f}"` through the compiled path (for tests and one-off values)."""
    out = np.empty(48, np.uint8)
    end = put_fixed(out, 0, value, decimals)
    if end < 0:
        raise ValueError(f"{value!r} is beyond {decimals}-decimal fixed text")
    return out[:end].tobytes().decode("ascii")

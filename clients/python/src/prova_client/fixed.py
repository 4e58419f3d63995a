"""Fixed point as ``inferFixed`` speaks it (docs/abi.md, "Fixed point").

A fixed-point value is an ``int256`` ``v`` with ``decimals`` ``d``, meaning ``v / 10**d``
(``0 <= d <= 77``). The Solidity struct is
``FixedTensor {int256[] elements; uint64[] shape; uint8 decimals;}`` (the field is ``elements``;
it was ``values`` before the ABI froze).

- :func:`to_fixed` is exact: every value goes through :class:`decimal.Decimal` with enough
  precision that nothing is lost, then ``round_half_even(x * 10**d)``. A float is taken at its
  exact binary value (``0.1`` is 0.1000000000000000055..., so it is ``100000`` at 6 decimals, and
  ``2.675`` is 2.67499999..., so ``267`` at 2), as the node converts floats; pass a ``str`` or a
  ``Decimal`` to round the decimal text instead (``"2.675"`` is 267.5 at 2 decimals, half to even
  ``268``; ``"2.665"`` gives ``266``).
- :func:`from_fixed` gives the float64 nearest to each exact ``v / 10**d`` (ties to even), or
  with ``exact=True`` the exact :class:`~decimal.Decimal` values.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

__all__ = ["FixedTensor", "MAX_DECIMALS", "INT256_MIN", "INT256_MAX", "to_fixed", "from_fixed"]

#: Largest ``decimals`` the node accepts.
MAX_DECIMALS = 77
INT256_MIN = -(2**255)
INT256_MAX = 2**255 - 1

class FixedTensor(NamedTuple):
    """The ABI struct ``FixedTensor`` (a tuple web3.py can encode)."""

    elements: list[int]
    shape: list[int]
    decimals: int


def _check_decimals(decimals: Any) -> int:
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)):
        raise ValueError(f"decimals must be an integer 0..{MAX_DECIMALS}, got {decimals!r}")
    d = int(decimals)
    if not 0 <= d <= MAX_DECIMALS:
        raise ValueError(f"decimals {d} is out of range: the node accepts 0..{MAX_DECIMALS}")
    return d


def _scalar_decimal(x: Any, where: str) -> Decimal | Fraction:
    """`x` as an exact Decimal (a Fraction stays a Fraction)."""
    if isinstance(x, (bool, np.bool_)):
        return Decimal(int(x))
    if isinstance(x, (int, np.integer)):
        return Decimal(int(x))
    if isinstance(x, Decimal):
        d = x
    elif isinstance(x, (float, np.floating)):
        if isinstance(x, np.floating) and x.dtype.itemsize > 8:
            raise ValueError(f"{where}: {x.dtype.name} is not supported; convert to float64 or pass a str")
        d = Decimal(float(x))  # exact: every binary float is a finite decimal
    elif isinstance(x, Fraction):
        return x
    elif isinstance(x, str):
        try:
            d = Decimal(x.strip())
        except InvalidOperation:
            raise ValueError(f"{where}: {x!r} is not a number") from None
    else:
        raise ValueError(f"{where}: {type(x).__name__} {x!r} is not a number")
    if not d.is_finite():
        raise ValueError(f"{where}: {x} has no fixed-point form (NaN and infinities are refused)")
    return d


def _scaled_half_even(x: Decimal | Fraction, d: int, where: str, orig: Any) -> tuple[int, bool]:
    """``round_half_even(x * 10**d)`` and whether it rounded, in exact integer arithmetic."""
    if isinstance(x, Fraction):
        q = x * 10**d
        return round(q), q.denominator != 1  # Fraction.__round__ rounds half to even
    sign, digits, exp = x.as_tuple()
    coef = int("".join(map(str, digits))) if digits else 0
    e = exp + d
    if coef and len(digits) + e > 80:  # certainly beyond 2**255 (~5.8e76): skip the big power
        raise ValueError(f"{where}: {orig} x 10^{d} is beyond int256")
    if e < 0 and len(digits) + e < 0:  # |x| * 10**d < 0.1: rounds to 0 (no huge power of ten)
        return 0, coef != 0
    if e >= 0:
        v, rem = coef * 10**e, 0
    else:
        den = 10**-e
        v, rem = divmod(coef, den)
        if 2 * rem > den or (2 * rem == den and v % 2 == 1):
            v += 1
    return (-v if sign else v), rem != 0


def _flatten(values: Any) -> tuple[list[Any], list[int]]:
    """Row-major elements and shape of a number, nested lists/tuples or a numpy array."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "biufO":
            raise ValueError(f"cannot make fixed-point values of a {values.dtype.name} array")
        return list(values.reshape(-1)), [int(d) for d in values.shape]
    if not isinstance(values, (list, tuple)):
        return [values], []
    if len(values) == 0:
        return [], [0]
    parts = [_flatten(v) for v in values]
    inner = parts[0][1]
    for k, (_, s) in enumerate(parts):
        if s != inner:
            raise ValueError(
                f"ragged values: item 0 has shape {inner}, item {k} has shape {s}"
            )
    return [e for p, _ in parts for e in p], [len(values)] + inner


def to_fixed(values: Any, decimals: int, *, exact: bool = False) -> FixedTensor:
    """Fixed-point form of `values` (a number, nested lists, or a numpy array; elements may be
    ints, floats, ``Decimal``, ``Fraction`` or numeric strings)
    with `decimals` places: ``elements[k] = round_half_even(values[k] * 10**decimals)``, exact.

    With ``exact=True`` a value that needs rounding (more than `decimals` decimal digits) is an
    error instead. Raises ValueError for NaN/infinities, results beyond ``int256``, `decimals`
    outside 0..77 and ragged nesting.
    """
    d = _check_decimals(decimals)
    flat, shape = _flatten(values)
    elements = []
    for k, x in enumerate(flat):
        where = f"element {k}"
        v, inexact = _scaled_half_even(_scalar_decimal(x, where), d, where, x)
        if exact and inexact:
            raise ValueError(f"{where}: {x} has more than {d} decimal digits (exact=True)")
        if not INT256_MIN <= v <= INT256_MAX:
            raise ValueError(f"{where}: {x} x 10^{d} = {v} is beyond int256")
        elements.append(v)
    return FixedTensor(elements, shape, d)


def _fixed_fields(fixed: Any) -> tuple[list[int], list[int], int]:
    if isinstance(fixed, dict):
        if "elements" not in fixed:
            hint = " (the field was called 'values' before the ABI froze)" if "values" in fixed else ""
            raise ValueError(f"FixedTensor has no 'elements'{hint}: keys {sorted(fixed)}")
        try:
            return fixed["elements"], fixed["shape"], fixed["decimals"]
        except KeyError as e:
            raise ValueError(f"FixedTensor has no {e.args[0]!r}") from None
    if isinstance(fixed, (tuple, list)):
        if len(fixed) != 3:
            raise ValueError(f"a FixedTensor is (elements, shape, decimals), got {len(fixed)} fields")
        return fixed[0], fixed[1], fixed[2]
    raise ValueError(f"not a FixedTensor: {type(fixed).__name__}")


def from_fixed(fixed: Any, *, exact: bool = False, dtype: Any = np.float64) -> np.ndarray:
    """The values of a ``FixedTensor`` -- the tuple ``(elements, shape, decimals)`` web3.py
    returns, a :class:`FixedTensor` or a dict with those keys -- shaped by its ``shape``:

    - default: a float64 array, each element the float nearest to the exact
      ``elements[k] / 10**decimals`` (ties to even; one rounding, as the node does);
      ``dtype=np.float32`` rounds straight from the exact value to f32 (never through f64) and
      raises ValueError for a value beyond f32's range;
    - ``exact=True``: an object array of :class:`decimal.Decimal`, exactly
      ``elements[k] / 10**decimals``.
    """
    elements, shape, decimals = _fixed_fields(fixed)
    d = _check_decimals(decimals)
    if not isinstance(shape, (list, tuple)) or any(
        isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in shape
    ):
        raise ValueError(f"FixedTensor shape must be a list of non-negative integers, got {shape!r}")
    shape = [int(s) for s in shape]
    elements = list(elements)
    if len(elements) != math.prod(shape):
        raise ValueError(
            f"FixedTensor has {len(elements)} elements, its shape {shape} needs {math.prod(shape)}"
        )
    for k, v in enumerate(elements):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"FixedTensor element {k} is {v!r}, not an integer")
        if not INT256_MIN <= int(v) <= INT256_MAX:
            raise ValueError(f"FixedTensor element {k} is beyond int256")
    scale = 10**d
    if exact:
        out = np.empty(len(elements), dtype=object)
        for k, v in enumerate(elements):
            out[k] = Decimal(f"{int(v)}E-{d}") if d else Decimal(int(v))
        return out.reshape(shape)
    dt = np.dtype(dtype)
    if dt == np.float32:
        from .tensors import _nearest_f32

        vals = []
        for k, v in enumerate(elements):
            f = _nearest_f32(Fraction(int(v), scale))
            if not np.isfinite(f):
                raise ValueError(f"FixedTensor element {k}: {v} / 10^{d} is beyond f32's range")
            vals.append(f)
        return np.array(vals, dtype=np.float32).reshape(shape)
    if dt != np.float64:
        raise ValueError(f"from_fixed gives float64 or float32, not {dt.name}")
    # int / int is correctly rounded in Python (and int256 / 10**d is far inside f64's range).
    return np.array([int(v) / scale for v in elements], dtype=np.float64).reshape(shape)

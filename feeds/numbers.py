"""Reading client numbers safely: whatever their exponent (`1e999999999`, `1e-999999999`),
nothing here does decimal arithmetic (which would overflow, or round a tiny number to zero), so
a number is judged by its digits and exponent as sent."""

from __future__ import annotations

from decimal import Decimal


def _trimmed(number: Decimal) -> tuple[int, tuple[int, ...], int]:
    """(sign, digits, exponent), trailing zeros moved into the exponent; zero is (0, (0,), 0)."""
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int), "finite numbers only"
    if not any(digits):
        return 0, (0,), 0
    end = len(digits)
    while digits[end - 1] == 0:
        end -= 1
    return sign, tuple(digits[:end]), exponent + len(digits) - end


def decimal_places(number: Decimal) -> int:
    """How many places after the point the number needs (`1.50` needs 1, `1e-999999999` needs
    999999999)."""
    _, _, exponent = _trimmed(number)
    return max(0, -exponent)


def integer_digits(number: Decimal) -> int:
    """How many digits before the point (`1e999999999` has 1,000,000,000)."""
    _, digits, exponent = _trimmed(number)
    return max(0, len(digits) + exponent)


def canonical(number: Decimal | int) -> str:
    """One spelling per value: `-1`, `-1.0` and `-1.00` all give `-1e0`."""
    sign, digits, exponent = _trimmed(Decimal(number))
    return f"{'-' if sign else ''}{''.join(map(str, digits))}e{exponent}"

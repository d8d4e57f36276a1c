"""Refusals of the batch record: failing QC, a record that is not intact, a bad weight reading.

Each names the field and the value, like every user-correctable error of the product.
"""

from __future__ import annotations

from printmed.errors import InputError


class QcNotPassed(InputError):
    """Release asked of a batch whose QC failed or was never done."""


class RecordNotIntact(InputError):
    """The audit chain is broken, or the record's tables disagree with the trail."""


class BalanceError(InputError):
    """The balance sent nothing usable in time, or an error reply."""

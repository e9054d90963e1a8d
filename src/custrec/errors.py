"""Exceptions raised by custrec.

Every exception derives from :class:`CustrecError`. Messages never contain unmasked personal
data: they name fields, codes and record ids, not values.

Format errors (:class:`InvalidFormat` and subclasses) are also ``ValueError`` objects and
carry a stable ``code`` such as ``"phone.invalid"`` or ``"uscc.checksum"``, the same code a
validation :class:`~custrec.validation.Issue` uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - import for type checkers only
    from custrec.issues import ValidationReport

__all__ = [
    "AccessDenied",
    "AuditIntegrityWarning",
    "CustrecError",
    "DuplicateCustomer",
    "DuplicateKey",
    "Erased",
    "ErasureUnavailable",
    "InvalidEmail",
    "InvalidFormat",
    "InvalidIdentifier",
    "InvalidPhone",
    "InvalidState",
    "KeyLayoutWarning",
    "NotFound",
    "PlaintextStorageWarning",
    "StorageError",
    "ValidationFailed",
    "VersionConflict",
]


class CustrecError(Exception):
    """Base class of every exception custrec raises on purpose."""


class InvalidFormat(CustrecError, ValueError):
    """A value is not in a valid format.

    ``code`` is the stable issue code (for example ``"ric.checksum"``); the message explains the
    problem without repeating the value.
    """

    code: str = "format.invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The human-readable explanation (never the offending value)."""
        return str(self.args[0]) if self.args else ""


class InvalidPhone(InvalidFormat):
    """A telephone number that cannot be parsed or is not a valid number."""

    code = "phone.invalid"


class InvalidEmail(InvalidFormat):
    """An e-mail address that is not syntactically valid."""

    code = "email.invalid"


class InvalidIdentifier(InvalidFormat):
    """An identifier (USCC, resident ID, ...) with a bad length, format, date or checksum."""

    code = "identifier.invalid"


class ValidationFailed(CustrecError, ValueError):
    """A record failed validation; ``report`` holds every issue found.

    The message names the first five errors with their path, code and message (``name: required
    (the customer name is required)``) and counts the rest (``and 3 more``). Issue messages never
    repeat the offending values, so the exception is safe to log.
    """

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        errors = report.errors
        codes = sorted({issue.code for issue in errors})
        shown = "; ".join(str(issue) for issue in errors[:5])
        more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
        super().__init__(
            f"validation failed with {len(errors)} error(s) ({', '.join(codes)}): {shown}{more}"
        )


class DuplicateCustomer(CustrecError):
    """Intake found existing customers sharing a strong identifier with the new record.

    ``existing_ids`` names them; ``fields`` names the kinds of identifier that matched (for
    example ``("phone",)``), never the values.
    """

    def __init__(self, existing_ids: Sequence[str], fields: Sequence[str]) -> None:
        self.existing_ids = tuple(existing_ids)
        self.fields = tuple(fields)
        super().__init__(
            f"possible duplicate of {', '.join(self.existing_ids)} (same {', '.join(self.fields)})"
        )


class StorageError(CustrecError):
    """A storage backend failed.

    ``retry_safe`` tells whether repeating the whole unit of work may succeed (a busy database,
    a lost connection before commit, a serialisation failure).
    """

    def __init__(self, message: str, *, retry_safe: bool = False) -> None:
        super().__init__(message)
        self.retry_safe = retry_safe


class NotFound(StorageError, LookupError):
    """No record with the given id (or key) exists."""

    def __init__(self, what: str) -> None:
        super().__init__(f"not found: {what}", retry_safe=False)


class DuplicateKey(StorageError):
    """An insert collided with an existing id or unique key."""

    def __init__(self, what: str) -> None:
        super().__init__(f"duplicate key: {what}", retry_safe=False)


class VersionConflict(StorageError):
    """A compare-and-set update named a version that is no longer current.

    Re-read the record, re-apply the change and try again.
    """

    def __init__(self, what: str, *, expected: int, actual: int | None = None) -> None:
        self.expected = expected
        self.actual = actual
        detail = f"expected version {expected}" + (
            f", found {actual}" if actual is not None else ""
        )
        super().__init__(f"version conflict on {what}: {detail}", retry_safe=True)


class AccessDenied(CustrecError, PermissionError):
    """The actor is not allowed to perform the action."""


class Erased(CustrecError):
    """The customer's personal data was erased (its data key destroyed)."""

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        super().__init__(f"customer {customer_id} has been erased")


class InvalidState(CustrecError, ValueError):
    """The customer is not in a state that allows the operation.

    For example: approving a record that is not pending review, or merging a record that was
    erased or already merged into another.
    """


class ErasureUnavailable(CustrecError):
    """The operation needs a keyring: plaintext payloads and history cannot be crypto-shredded,
    and an unkeyed audit log is not chained."""


class PlaintextStorageWarning(UserWarning):
    """Personal data is being stored without encryption (no keyring was given)."""


class KeyLayoutWarning(UserWarning):
    """The store keeps its data keys inside the database (written before keys were kept apart):
    a backup of it holds the keys, so erasures are not final in backups. Move them with
    ``registry.keys.separate(...)``."""


class AuditIntegrityWarning(UserWarning):
    """The audit log no longer holds the entry its head names: entries were deleted or altered
    (or the store was restored from a backup). ``registry.audit.verify(...)`` reports it."""

"""Exceptions raised by custrec.

Every exception derives from :class:`CustrecError`. Messages never contain unmasked personal
data: they name fields, codes and record ids, not values.

Format errors (:class:`InvalidFormat` and subclasses) are also ``ValueError`` objects and
carry a stable ``code`` such as ``"phone.invalid"`` or ``"uscc.checksum"``, the same code a
validation :class:`~custrec.validation.Issue` uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # pragma: no cover - import for type checkers only
    from custrec.model.issues import ValidationReport

__all__ = [
    "AccessDenied",
    "AuditIntegrityWarning",
    "BackupError",
    "BackupUnavailable",
    "BasisNotAvailable",
    "BundledConsentError",
    "ConsentError",
    "ConversionError",
    "CustrecError",
    "DecryptionFailed",
    "DefinitionConflict",
    "DuplicateCustomer",
    "DuplicateKey",
    "Erased",
    "ErasureUnavailable",
    "GuardianConsentRequired",
    "ImportWorkerError",
    "InsecureKeyFile",
    "InvalidEmail",
    "InvalidFormat",
    "InvalidIdentifier",
    "InvalidPhone",
    "InvalidState",
    "InvalidTransition",
    "KeyConfigurationError",
    "KeyLayoutWarning",
    "KeyUnavailable",
    "KeyringMismatch",
    "LifecycleLoop",
    "MappingError",
    "MixedCurrencies",
    "NotFound",
    "NotSampled",
    "PlaintextStorageWarning",
    "ReadError",
    "RetentionError",
    "SchemaError",
    "StorageError",
    "UnknownImport",
    "UnknownPurpose",
    "UnknownRecipient",
    "ValidationFailed",
    "VersionConflict",
]

_DECRYPTION_FAILED: Final = (
    "ciphertext could not be authenticated (wrong key, customer or field, or corrupted data)"
)


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


class LifecycleLoop(CustrecError):
    """Lifecycle rules kept triggering each other deeper than the allowed depth; nothing of
    the change that started them was written."""


class InvalidTransition(InvalidState):
    """A case or task cannot move from its status to the one asked for (the message names
    both and the moves allowed)."""


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
    (or the store was restored from a backup), which ``registry.audit.verify(...)`` reports;
    or a queued audit entry failed its tag (forged or altered while queued) and was replaced
    in the chain by an ``audit.queue.rejected`` entry naming its ticket (its content is gone:
    investigate who could write to the store)."""


class BackupError(CustrecError):
    """A backup or restore was refused before anything was written: the file is missing or
    exists already, is not a custrec database (or is damaged, or newer than this custrec), or
    is not a backup the key store recorded; or the database to restore over is still open in
    a store or another connection. The message names the file, never its content."""


class BackupUnavailable(CustrecError):
    """This store cannot be backed up by custrec: it lives in memory, keeps its data keys
    inside the database, or is a server database with its own tools (PostgreSQL: ``pg_dump``
    or point-in-time recovery; docs/security.md, "Backups and restore")."""


# ------------------------------------------------------------------------ keys and encryption


class KeyConfigurationError(CustrecError, ValueError):
    """Key configuration is missing or malformed (an env variable, a key file).

    The message names the variable or file and the problem, never the value.
    """


class InsecureKeyFile(KeyConfigurationError):
    """A key file is accessible by group or others. ``path`` is the file and ``mode`` its
    permission bits, so a caller can say how to fix it in its own terms (a shell command)."""

    def __init__(self, path: Path, mode: int) -> None:
        super().__init__(
            f"key file {path} is accessible by group or others (mode {mode:04o}); "
            f"run 'chmod 600 {path}' or pass allow_insecure_permissions=True"
        )
        self.path = path
        self.mode = mode

    def __reduce__(self) -> tuple[type[InsecureKeyFile], tuple[Path, int]]:
        return (type(self), (self.path, self.mode))


class KeyUnavailable(CustrecError):
    """A key id is not known to the provider (retired, never configured, or mistyped)."""


class KeyringMismatch(KeyConfigurationError):
    """The keyring given is not the one that wrote the store (or a keyring is missing)."""


class DecryptionFailed(CustrecError):
    """A ciphertext or wrapped key failed authentication, or is not in a known format.

    The cause may be a wrong key, a ciphertext moved to another customer or field, or corrupted
    bytes; the message never says which value was involved.
    """

    def __init__(self, message: str = _DECRYPTION_FAILED) -> None:
        super().__init__(message)


# ------------------------------------------------------------------------------------ consent


class ConsentError(CustrecError, ValueError):
    """A consent event, notice, profile or ledger operation is invalid."""


class BundledConsentError(ConsentError):
    """A grant names a separate-consent purpose together with another purpose.

    PIPL Arts. 23, 25, 26, 29 and 39 require *separate* consent: such a purpose is granted alone,
    in its own event.
    """


class GuardianConsentRequired(ConsentError):
    """A grant given by the subject was appended for a subject below the age of consent.

    PIPL Art. 31 (under 14) and GDPR Art. 8 (16, or a member-state age of 13 to 16) require the
    consent of a parent or guardian, recorded with :class:`~custrec.consent.GuardianEvidence`.
    """


class BasisNotAvailable(ConsentError):
    """A lawful basis is not available in the subject's jurisdiction.

    The usual case: ``legitimate_interests`` asserted for a PIPL subject (PIPL Art. 13 has no such
    basis).
    """


class UnknownPurpose(ConsentError, KeyError):
    """A purpose code is not in the purpose catalogue in use."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown purpose code {code!r}")
        self.code = code

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


# --------------------------------------------------------------------- retention and grading


class MixedCurrencies(CustrecError, ValueError):
    """Amounts in different currencies were about to be added up or compared.

    Raised by :func:`summarize` when one customer's transactions use several currencies, and by
    policies when a population (or a graded summary) mixes currencies. ``customer_id`` is ``None``
    for a population-level conflict; ``currencies`` lists the codes found, sorted;
    ``expected`` is the policy's currency when a summary's single currency is not it.
    """

    def __init__(
        self,
        currencies: Iterable[str],
        *,
        customer_id: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.currencies = tuple(sorted(set(currencies)))
        self.customer_id = customer_id
        self.expected = expected
        where = f"customer {customer_id}" if customer_id is not None else "the population"
        if expected is not None:  # one currency, but not the policy's
            others = ", ".join(c for c in self.currencies if c != expected)
            what = f"{where} has purchases in {others}, not in the policy's currency {expected}"
        else:
            what = f"{where} mixes currencies {', '.join(self.currencies)}"
        super().__init__(f"{what}; summarise and grade each currency separately (or convert first)")


class RetentionError(CustrecError, ValueError):
    """A retention rule, floor, hold, schedule or fact set is invalid."""


# ------------------------------------------------------------------- documents and interchange


class ConversionError(CustrecError, ValueError):
    """A cell could not be converted; ``code`` is stable (``date.format``, ``number.format``,
    ``money.format``, ``bool.format``, ``json.format``, ``value.too_long``), ``message`` never
    holds the value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MappingError(CustrecError, ValueError):
    """A mapping is invalid, or cannot be applied to a file; ``key`` names the mapping key at
    fault (``columns.手机.field``), or is empty for the mapping as a whole."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class ReadError(CustrecError, ValueError):
    """The source cannot be read at all (missing file, no header, unreadable header, unknown
    encoding). The message names the file and the line, never a cell's content."""


class ImportWorkerError(CustrecError):
    """A worker process of a parallel import failed or stopped. The message names the row and
    the exception's type only, never a cell; nothing the worker held was written, and running
    the same import again resumes after the last written chunk."""


class SchemaError(CustrecError, ValueError):
    """A stored document has an unknown type or an unsupported schema version."""


class UnknownRecipient(CustrecError, LookupError):
    """No third-party recipient is registered under that id (register it first)."""


class UnknownImport(CustrecError, LookupError):
    """No stored customer was created by an import of that id (``registry.sampling``)."""


class NotSampled(CustrecError, LookupError):
    """The customer is not in that sampling batch's sample (``registry.sampling``)."""


class DefinitionConflict(CustrecError, ValueError):
    """A custom field cannot be defined or changed that way: the name is taken, or the change
    would make stored values mean something else (another type, personal data no longer
    personal)."""

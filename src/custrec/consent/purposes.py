"""Processing purposes and the built-in purpose catalogue.

A :class:`Purpose` is what personal information is used *for*. Its flags carry the legal rules the
consent ledger enforces: ``requires_separate_consent`` (PIPL 单独同意, Arts. 23, 25, 26, 29 and
39: only a grant naming that purpose alone satisfies it), ``necessary_for_service`` (covered by the
contract basis, PIPL Art. 13(2) / GDPR Art. 6(1)(b)), ``storage_only`` (still allowed while
processing is restricted, PIPL Art. 47 para. 2), ``is_profiling`` and ``is_marketing``.

:data:`PURPOSES` is the built-in catalogue; extend or replace it with
:meth:`PurposeCatalogue.extended` and :meth:`PurposeCatalogue.without`, or build a
:class:`PurposeCatalogue` of your own.

>>> PURPOSES["third_party"].requires_separate_consent
True
>>> [p.code for p in PURPOSES.values() if p.is_marketing]
['marketing.email', 'marketing.sms', 'marketing.phone']
>>> mine = PURPOSES.extended(Purpose(code="loyalty", title="Loyalty programme"))
>>> "loyalty" in mine, "loyalty" in PURPOSES
(True, False)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs

from custrec._checks import non_empty_text
from custrec.errors import ConsentError, UnknownPurpose

__all__ = ["PURPOSES", "ContactChannel", "Purpose", "PurposeCatalogue"]

_CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")


class ContactChannel(enum.StrEnum):
    """A channel through which a customer is contacted (for marketing purposes)."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    POST = "post"
    MESSAGING = "messaging"  # WeChat and other messaging apps
    IN_APP = "in_app"


def _code(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a string, not {type(value).__name__}")
    if not _CODE.fullmatch(value):
        raise ValueError(
            f"{attribute.name} must be lower-case words joined by dots, such as 'marketing.email'"
        )


@attrs.frozen(kw_only=True)
class Purpose:
    """A processing purpose with the flags that decide how consent for it works.

    ``code`` is stable (it is stored in consent events): lower-case words joined by dots.
    ``legal_reference`` cites the article behind a flag, for notices.
    """

    code: str = attrs.field(validator=_code)
    title: str = attrs.field(validator=non_empty_text())
    requires_separate_consent: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    necessary_for_service: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    storage_only: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    is_profiling: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    is_marketing: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    channel: ContactChannel | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(ContactChannel)),
    )
    legal_reference: str = attrs.field(default="", validator=attrs.validators.instance_of(str))


class PurposeCatalogue(Mapping[str, Purpose]):
    """An immutable mapping of purpose code to :class:`Purpose`, in definition order.

    Looking up an unknown code raises :class:`~custrec.consent.UnknownPurpose` (a ``KeyError``);
    a repeated code raises :class:`~custrec.consent.ConsentError`.
    """

    __slots__ = ("_by_code",)

    _by_code: dict[str, Purpose]

    def __init__(self, purposes: Iterable[Purpose] = ()) -> None:
        by_code: dict[str, Purpose] = {}
        for purpose in purposes:
            if not isinstance(purpose, Purpose):
                raise TypeError(f"a catalogue holds Purpose objects, not {type(purpose).__name__}")
            if purpose.code in by_code:
                raise ConsentError(f"purpose code {purpose.code!r} is defined twice")
            by_code[purpose.code] = purpose
        object.__setattr__(self, "_by_code", by_code)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PurposeCatalogue is immutable")

    def __getitem__(self, code: str) -> Purpose:
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise UnknownPurpose(str(code)) from None

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._by_code

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_code)

    def __len__(self) -> int:
        return len(self._by_code)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PurposeCatalogue):
            return list(self._by_code.items()) == list(other._by_code.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._by_code.values()))

    def __repr__(self) -> str:
        return f"PurposeCatalogue({list(self._by_code)!r})"

    def extended(self, *purposes: Purpose) -> PurposeCatalogue:
        """Return a catalogue with ``purposes`` added (one with an existing code replaces it)."""
        by_code = dict(self._by_code)
        for purpose in purposes:
            if not isinstance(purpose, Purpose):
                raise TypeError(f"a catalogue holds Purpose objects, not {type(purpose).__name__}")
            by_code[purpose.code] = purpose
        return PurposeCatalogue(by_code.values())

    def without(self, *codes: str) -> PurposeCatalogue:
        """Return a catalogue without the purposes ``codes`` (each must exist)."""
        for code in codes:
            self[code]  # raises UnknownPurpose
        return PurposeCatalogue(p for c, p in self._by_code.items() if c not in codes)

    def check_purposes(self, codes: Iterable[str]) -> tuple[Purpose, ...]:
        """Return the purposes named by ``codes``; raise ``UnknownPurpose`` for an unknown one."""
        return tuple(self[code] for code in codes)


_SEPARATE: Final = "PIPL Art. 14 (separate consent)"

PURPOSES: Final = PurposeCatalogue(
    (
        Purpose(
            code="service",
            title="Delivering the contracted products and services",
            necessary_for_service=True,
            legal_reference="PIPL Art. 13(2); GDPR Art. 6(1)(b)",
        ),
        Purpose(
            code="storage",
            title="Storing the records and keeping them secure",
            necessary_for_service=True,
            storage_only=True,
            legal_reference="PIPL Arts. 47 para. 2, 51; GDPR Arts. 18(2), 32",
        ),
        Purpose(
            code="marketing.email",
            title="Marketing by e-mail",
            is_marketing=True,
            channel=ContactChannel.EMAIL,
            legal_reference="PIPL Art. 24; GDPR Art. 21(2)",
        ),
        Purpose(
            code="marketing.sms",
            title="Marketing by text message",
            is_marketing=True,
            channel=ContactChannel.SMS,
            legal_reference="PIPL Art. 24; GDPR Art. 21(2)",
        ),
        Purpose(
            code="marketing.phone",
            title="Marketing by telephone",
            is_marketing=True,
            channel=ContactChannel.PHONE,
            legal_reference="PIPL Art. 24; GDPR Art. 21(2)",
        ),
        Purpose(
            code="profiling",
            title="Profiling and customer grading",
            is_profiling=True,
            legal_reference="PIPL Art. 24; GDPR Arts. 21, 22",
        ),
        Purpose(code="analytics", title="Aggregate analytics and service improvement"),
        Purpose(
            code="third_party",
            title="Providing information to another personal information handler",
            requires_separate_consent=True,
            legal_reference=f"PIPL Art. 23; {_SEPARATE}",
        ),
        Purpose(
            code="cross_border",
            title="Transferring information outside mainland China",
            requires_separate_consent=True,
            legal_reference=f"PIPL Arts. 38, 39; {_SEPARATE}",
        ),
        Purpose(
            code="public_disclosure",
            title="Publicly disclosing information",
            requires_separate_consent=True,
            legal_reference=f"PIPL Art. 25; {_SEPARATE}",
        ),
        Purpose(
            code="sensitive",
            title="Processing sensitive personal information",
            requires_separate_consent=True,
            legal_reference=f"PIPL Arts. 28, 29; GDPR Art. 9(2)(a); {_SEPARATE}",
        ),
        Purpose(
            code="public_images",
            title="Using images from devices in public places for another purpose",
            requires_separate_consent=True,
            legal_reference=f"PIPL Art. 26; {_SEPARATE}",
        ),
    )
)
"""The built-in purpose catalogue (PIPL first; the flags also fit GDPR)."""

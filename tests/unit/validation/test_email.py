"""Specification of custrec.validation.email (syntax check and normalisation)."""

from __future__ import annotations

from typing import Any

import pytest
from email_validator import EmailUndeliverableError
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.errors import InvalidEmail, InvalidFormat
from custrec.validation import email


def invalid(raw: object) -> InvalidEmail:
    with pytest.raises(InvalidEmail) as info:
        email.normalize(raw)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zs@example.com", "zs@example.com"),
        ("ZS@Example.COM", "ZS@example.com"),  # the domain is case-insensitive, the local part not
        ("  zs@example.com\n", "zs@example.com"),
        ("zs＠example.com", "zs@example.com"),  # full-width at sign
        ("ｚｓ＠ｅｘａｍｐｌｅ．ｃｏｍ", "zs@example.com"),
        ("zhang.san+crm@mail.example.com.cn", "zhang.san+crm@mail.example.com.cn"),
        ("张三@例子.广告", "张三@例子.广告"),  # SMTPUTF8 local part, IDN domain
        ("üser@EXÄMPLE.com", "üser@exämple.com"),
        ("a@xn--fsq.com", "a@例.com"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert email.normalize(raw) == expected
    assert email.validate(raw) == expected
    assert email.format(raw) == expected
    assert email.is_valid(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "zs",
        "zs@",
        "@example.com",
        "zs@@example.com",
        "zs@example",  # no dot in the domain
        "zs@localhost",
        "zs @example.com",
        "zs@exa mple.com",
        "zs@example..com",
        ".zs@example.com",
        "Zhang San <zs@example.com>",  # display names are not addresses
        "zs@example.com\ud800",
        "zs\x00@example.com",
        "a" * 65 + "@example.com",  # local part over 64 octets
        "张" * 22 + "@example.com",  # 22 characters, but 66 octets in UTF-8
        "a@" + "b" * 250 + ".com",  # address over 254 octets
        "a" * 100_000 + "@example.com",
        "@" * 100_000,
    ],
)
def test_invalid_addresses_raise_invalid_email(raw: str) -> None:
    assert invalid(raw).code == "email.invalid"
    assert not email.is_valid(raw)


def test_errors_are_value_errors_and_never_repeat_the_address() -> None:
    for raw in ("secret.name@@example.com", "secret.name@example", "secret#name@exa mple.com"):
        error = invalid(raw)
        assert isinstance(error, InvalidFormat)
        assert isinstance(error, ValueError)
        assert "secret" not in str(error)
        assert "example" not in str(error)


def test_compact_trims_and_folds_full_width_forms() -> None:
    assert email.compact("\u3000ＺＳ＠Example.COM ") == "ZS@Example.COM"
    assert email.compact("not an address") == "not an address"  # not validated


# ------------------------------------------------------------------------ deliverability


class FakeResult:
    local_part = "zs"
    normalized = "zs@example.com"


def test_no_network_by_default_and_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_validate_email(address: str, **kwargs: Any) -> FakeResult:
        calls.append(kwargs)
        return FakeResult()

    monkeypatch.setattr(email, "validate_email", fake_validate_email)
    email.normalize("张三@例子.广告")  # not plain ASCII: the library decides
    email.is_valid("张三@例子.广告")
    email.normalize("zs@example.com")  # plain ASCII without a DNS check: decided locally
    email.normalize("zs@example.com", check_deliverability=True)
    email.is_valid("zs@example.com", check_deliverability=True)
    assert [c["check_deliverability"] for c in calls] == [False, False, True, True]


def test_an_undeliverable_domain_is_an_invalid_email(monkeypatch: pytest.MonkeyPatch) -> None:
    def undeliverable(address: str, **kwargs: Any) -> FakeResult:
        raise EmailUndeliverableError("The domain name example.com does not accept email.")

    monkeypatch.setattr(email, "validate_email", undeliverable)
    with pytest.raises(InvalidEmail) as info:
        email.validate("zs@example.com", check_deliverability=True)
    assert info.value.code == "email.invalid"
    assert "example" not in str(info.value)


# ------------------------------------------------------------------------------- properties

local_parts = st.text(
    st.characters(categories=("Ll", "Lu", "Lo", "Nd"), exclude_characters="\x00"),
    min_size=1,
    max_size=20,
)
unicode_addresses = st.builds(
    lambda local, domain: f"{local}@{domain}",
    local_parts,
    st.sampled_from(["example.com", "EXAMPLE.org", "例子.广告", "mail.example.com.cn"]),
)


@given(st.emails() | unicode_addresses | st.text())
def test_normalize_is_idempotent(raw: str) -> None:
    try:
        once = email.normalize(raw)
    except InvalidEmail:
        return
    assert email.normalize(once) == once


@given(st.emails())
def test_generated_addresses_either_normalise_or_raise_the_typed_error(raw: str) -> None:
    try:
        result = email.normalize(raw)
    except InvalidEmail as exc:
        error = exc
    else:
        assert "@" in result
        return
    assert error.code == "email.invalid"


@given(st.text() | unicode_addresses)
def test_validate_returns_a_string_or_raises_invalid_email(raw: str) -> None:
    try:
        result = email.validate(raw)
    except InvalidEmail as exc:
        error = exc
    else:
        assert isinstance(result, str)
        return
    assert error.code == "email.invalid"


ADDRESS_PARTS = st.sampled_from(
    ["zs", "ZS", "Zhang.San", "a+b", "张三", "ü", "ß", "İ", "e\u0301", "ﬁ", "K", "ǅ", "x_y", "-"]
)
DOMAINS = st.sampled_from(
    [
        "example.com",
        "EXAMPLE.COM",
        "例子.广告",
        "xn--fsqu00a.xn--4rr70v",
        "bücher.de",
        "straße.de",
        "ΣΊΣΥΦΟΣ.gr",
        "sub.example.org",
        "ＥＸＡＭＰＬＥ.com",
        "localhost",
        "a.b",
    ]
)


@given(st.lists(ADDRESS_PARTS, min_size=1, max_size=6).map("".join), DOMAINS)
def test_an_address_normalised_is_valid_and_normalises_to_itself(local: str, domain: str) -> None:
    """What lets parse_customer take a normalised address as valid without parsing it again
    (issue 16)."""
    try:
        once = email.normalize(f"{local}@{domain}")
    except InvalidEmail:
        return
    assert email.normalize(once) == once
    assert email.is_valid(once)


@given(st.emails() | st.text() | st.sampled_from(["0@A.XN--QCKA1PMC", "ZS@Example.COM"]))
def test_an_ascii_normalised_address_is_valid(raw: str) -> None:
    """parse_customer takes an ASCII address it normalised as valid without parsing it again
    (issue 16); a non-ASCII one it checks again (see test_oracle_parity.py)."""
    try:
        once = email.normalize(raw)
    except InvalidEmail:
        return
    if once.isascii():
        assert email.is_valid(once)
        assert email.normalize(once) == once


# --- the fast path for plain ASCII addresses ------------------------------------------------------

_ATEXT_CHARS = "abcXYZ09_!#$%&'*+-/=?^`{|}~"
_LOCALS = st.lists(
    st.text(_ATEXT_CHARS, min_size=0, max_size=8)
    | st.sampled_from(["info", "Sales", "POSTMASTER"]),
    min_size=1,
    max_size=4,
).map(".".join)
_HOST_LABELS = st.text("abcAZ09-", min_size=0, max_size=8) | st.sampled_from(
    ["xn--fsq", "ab--cd", "test", "arpa", "local", "invalid", "onion", "a" * 63, "a" * 64]
)
_DOMAINS = st.lists(_HOST_LABELS, min_size=1, max_size=5).map(".".join)


def _library(text: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    if len(result.local_part.encode("utf-8")) > 64:
        return None
    return result.normalized


@settings(max_examples=400)
@given(_LOCALS, _DOMAINS)
def test_the_ascii_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    text = f"{local}@{domain}"
    fast = email._common(text)
    if fast is not None:  # decided without the library: the library says the same
        assert fast == _library(text)
    expected = _library(text) if len(text) <= 254 else None
    assert (email.normalize(text) if email.is_valid(text) else None) == expected


@pytest.mark.parametrize(
    "text",
    ["c3@example.com", "Zhang.San+crm@Mail.Example.COM.cn", "a@b.cn", "o'neil@x-y.org"],
)
def test_plain_ascii_addresses_take_the_fast_path(text: str) -> None:
    assert email._common(text) == _library(text) is not None


@pytest.mark.parametrize(
    "text",
    ["info@example.com", "a@xn--fsq.com", "a@x.test", "a@x.local", "张三@例子.广告", "a..b@x.com"],
)
def test_addresses_the_library_must_decide_are_left_to_it(text: str) -> None:
    assert email._common(text) is None


_NAMES = st.lists(st.sampled_from(["test", "local", "b.test", "", "c", "arpa", "x.y"]), max_size=4)


@given(
    _NAMES,
    _NAMES,
    st.lists(st.sampled_from(["a", "b", "test", "local", "c", "x", "y", ""]), max_size=4),
)
def test_special_use_domains_are_found_as_the_loop_over_the_library_list_finds_them(
    names: list[str], others: list[str], labels: list[str]
) -> None:
    """_special_use answers from a set and a tuple of suffixes kept for the library's list as
    last seen: as the loop over that list, and after the application changes it."""
    import email_validator

    domain = ".".join(labels)
    saved = email_validator.SPECIAL_USE_DOMAIN_NAMES
    try:
        for listed in (names, others, saved):
            email_validator.SPECIAL_USE_DOMAIN_NAMES = listed
            expected = any(domain == name or domain.endswith("." + name) for name in listed)
            assert email._special_use(domain) is expected
    finally:
        email_validator.SPECIAL_USE_DOMAIN_NAMES = saved


def test_a_special_use_list_holding_more_than_names_is_left_to_email_validator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import email_validator

    monkeypatch.setattr(email_validator, "SPECIAL_USE_DOMAIN_NAMES", ["test", None])
    with pytest.raises(TypeError):  # what email-validator itself does with such a list
        email_validator.validate_email("a@example.com", check_deliverability=False)
    with pytest.raises(TypeError):
        email.is_valid("a@example.com")

"""custrec.errors: what the exceptions say, and that they never say a personal value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import ValidationFailed
from custrec.model.issues import Issue, Severity, ValidationReport
from custrec.validation import parse_customer

NOW = datetime(2025, 6, 1, tzinfo=UTC)

SECRET_NAME = "欧阳秘密" * 60  # 240 characters: too long
SECRET_PHONE = "1391234567"  # one digit short
SECRET_EMAIL = "ouyang.mimi@@secret-mail.example"
SECRET_RIC = "110105194912310021"  # wrong check character


def failed(report: ValidationReport) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        raise ValidationFailed(report)
    return info.value


def test_validation_failed_shows_each_issue_with_its_path_code_and_message() -> None:
    report = ValidationReport(
        [
            Issue(path="name", code="required", message="the customer name is required"),
            Issue(path="", code="type", message="expected an object (Customer)"),
        ]
    )
    text = str(failed(report))
    assert text == (
        "validation failed with 2 error(s) (required, type): "
        "name: required (the customer name is required); "
        "<record>: type (expected an object (Customer))"
    )


def test_validation_failed_shows_the_first_five_errors_and_counts_the_rest() -> None:
    issues = [Issue(path=f"tags[{i}]", code="too_long", message=f"issue {i}") for i in range(8)]
    text = str(failed(ValidationReport(issues)))
    assert all(f"tags[{i}]: too_long (issue {i})" in text for i in range(5))
    assert "tags[5]" not in text and "issue 5" not in text
    assert text.endswith(" and 3 more")


def test_validation_failed_shows_errors_only() -> None:
    report = ValidationReport(
        [
            Issue(path="milestones", code="m.order", message="w", severity=Severity.WARNING),
            Issue(path="name", code="required", message="the customer name is required"),
        ]
    )
    text = str(failed(report))
    assert "milestones" not in text
    assert text.startswith("validation failed with 1 error(s) (required): name: required")


def test_validation_failed_never_shows_the_invalid_values_of_a_record() -> None:
    result = parse_customer(
        {
            "kind": "individual",
            "name": SECRET_NAME,
            "contacts": [{"phones": [SECRET_PHONE], "emails": [SECRET_EMAIL]}],
            "identifiers": [{"scheme": "CN-RIC", "value": SECRET_RIC}],
        },
        as_of=NOW,
    )
    assert {i.code for i in result.report} == {
        "too_long",
        "phone.invalid",
        "email.invalid",
        "ric.checksum",
    }
    error = failed(result.report)
    for text in (str(error), repr(error)):
        for issue in result.report:
            assert f"{issue.path}: {issue.code} ({issue.message})" in text
        for secret in ("欧阳", "秘密", "1391234", "234567", "ouyang", "mimi", "secret", "19491231"):
            assert secret not in text


@given(
    phone=st.text("0123456789", min_size=6, max_size=10),
    # letters no English word of the messages strings together six of ("failed" is a local part
    # too, and also in "validation failed")
    local=st.text("jkqvxz", min_size=6, max_size=12),
)
def test_validation_failed_never_repeats_a_rejected_phone_or_email(phone: str, local: str) -> None:
    result = parse_customer(
        {
            "kind": "individual",
            "name": "张三",
            "contacts": [{"phones": [phone], "emails": [f"{local}@@example.com"]}],
        },
        as_of=NOW,
    )
    if result.ok:  # pragma: no cover - a generated number that happens to be valid
        return
    error = failed(result.report)
    assert phone not in str(error) and phone not in repr(error)
    assert local not in str(error) and local not in repr(error)

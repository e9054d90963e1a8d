"""The bundled messy sample: a GB18030 export of an old CRM, imported into an encrypted store.

The file (examples/data/legacy_customers.csv) has Chinese headers, legacy values (潜在客户,
成交客户, 男/女, 已核实), full-width digits, currency symbols, thousands separators and 万,
duplicates inside the file, a customer already in the store, and broken rows. The report and
the error file are asserted literally; a second run changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.interchange import (
    ErrorFile,
    ImportReport,
    load_mapping,
    open_source,
    plan_import,
)
from custrec.model.serialization import make_converter

EXAMPLES = Path(__file__).parents[3] / "examples" / "data"
SOURCE = EXAMPLES / "legacy_customers.csv"
MAPPING = EXAMPLES / "legacy_mapping.toml"
MIGRATION = Actor(id="migration", roles={"admin"})
READER = Actor(id="checker", roles={"admin", "unmask", "auditor"})
STORED_ID = "00000000-0000-7000-8000-000000000001"

HEADERS = [
    "客户编号",
    "客户名称",
    "客户性质",
    "行业",
    "联系人",
    "职务",
    "性别",
    "手机",
    "邮箱",
    "统一社会信用代码",
    "客户类型",
    "状态",
    "省份",
    "城市",
    "详细地址",
    "合同金额",
    "签约日期",
    "标签",
    "备注",
]
MAPPED = {
    "客户编号": "identifiers[EXTERNAL:legacy-crm]",
    "客户名称": "name",
    "客户性质": "kind",
    "行业": "industry",
    "联系人": "contacts[0].name",
    "职务": "contacts[0].title",
    "性别": "gender",
    "手机": "contacts[0].phones[0]",
    "邮箱": "contacts[0].emails[0]",
    "统一社会信用代码": "identifiers[CN-USCC]",
    "客户类型": "stage",
    "状态": "verification",
    "省份": "addresses[0].province",
    "城市": "addresses[0].city",
    "详细地址": "addresses[0].street",
    "合同金额": "milestones.contract_amount",
    "签约日期": "milestones.contract_signed_on",
    "标签": "tags",
    "备注": "notes",
}


def issue(
    row: int,
    column: str | None,
    path: str,
    code: str,
    message: str,
    severity: str = "error",
    value: str | None = None,
) -> dict[str, Any]:
    return {
        "row": row,
        "column": column,
        "path": path,
        "code": code,
        "message": message,
        "severity": severity,
        "value": value,
    }


ISSUES = [
    issue(5, None, "", "duplicate.in_file", "same credit code, phone as row 1", "warning"),
    issue(6, "手机", "contacts[0].phones[0]", "phone.invalid", "not a valid phone", value="1****"),
    issue(
        6, "邮箱", "contacts[0].emails[0]", "email.invalid", "not a valid e-mail", value="s****@"
    ),
    issue(
        7,
        "统一社会信用代码",
        "identifiers[0].value",
        "uscc.checksum",
        "the USCC check character does not match",
        value="91************B2X1",
    ),
    issue(8, "客户名称", "name", "required", "a value is required"),
    issue(
        9,
        None,
        "",
        "row.extra_cells",
        "20 cells for 19 columns: an unquoted delimiter inside a value?",
    ),
    issue(
        9,
        "客户性质",
        "kind",
        "enum",
        "expected one of 'individual', 'organization'",
        value="********",  # a shifted row: the cell under 客户性质 is part of a name, so masked
    ),
    issue(
        9,
        "状态",
        "verification",
        "enum",
        "expected one of 'unverified', 'pending_review', 'verified', 'rejected'",
        value="****",  # every value of a shifted row is masked
    ),
    # the shift put a phone under 邮箱: reported too, as every issue of a record is
    issue(
        9, "邮箱", "contacts[0].emails[0]", "email.invalid", "not a valid e-mail", value="*" * 11
    ),
    issue(
        10,
        "合同金额",
        "milestones.contract_amount",
        "money.format",
        "not a sum of money",
        value="abc",
    ),
    issue(
        10,
        "签约日期",
        "milestones.contract_signed_on",
        "date.format",
        "not a date in the expected formats",
        value="2023-13-45",
    ),
    issue(
        10,
        "客户类型",
        "stage",
        "enum",
        "expected one of 'lead', 'prospect', 'new', 'active', 'dormant', 'churned', 'archived'",
        value="黑名单客户",
    ),
    issue(12, None, "", "duplicate.in_file", "same e-mail as row 11", "warning"),
    issue(
        15,
        None,
        "",
        "duplicate.in_store",
        f"same credit code, e-mail, phone as stored customer {STORED_ID}",
        "warning",
    ),
    issue(
        16,
        None,
        "",
        "row.missing_cells",
        "9 cells for 19 columns; the rest count as blank",
        "warning",
    ),
]

COUNTS = {
    "created": 7,
    "updated": 0,
    "unchanged": 0,
    "already_applied": 0,
    "duplicate_in_file": 2,
    "duplicate_in_store": 1,
    "conflict": 0,
    "rejected": 5,
    "erased_subject": 0,
}
ROW_IDS = [  # every row: its outcome and the customer it became (row 13 is blank)
    (1, "created", "1aae42cb-d30d-864e-b991-93c96e2d9043"),
    (2, "created", "1aae42cb-d30d-87da-886b-2386152d3584"),
    (3, "created", "1aae42cb-d30d-8326-b2d1-d9d519d10361"),
    (4, "created", "1aae42cb-d30d-8053-8426-1d7fe60fc3b5"),
    (5, "duplicate_in_file", "1aae42cb-d30d-864e-b991-93c96e2d9043"),  # row 1's customer
    *((row, "rejected", None) for row in range(6, 11)),
    (11, "created", "1aae42cb-d30d-8a13-98b8-e165887e4f54"),
    (12, "duplicate_in_file", "1aae42cb-d30d-8a13-98b8-e165887e4f54"),
    (14, "created", "1aae42cb-d30d-808e-a546-8f16b813cc4f"),
    (15, "duplicate_in_store", STORED_ID),
    (16, "created", "1aae42cb-d30d-8d5a-9bfb-b1574f57d454"),
]
SAMPLE = ["1aae42cb-d30d-8053-8426-1d7fe60fc3b5", "1aae42cb-d30d-8326-b2d1-d9d519d10361"]

ERROR_FILE = (
    "_row,_errors," + ",".join(HEADERS) + "\r\n"
    '5,"row: duplicate.in_file (same credit code, phone as row 1)",L0005,'
    "上海明远信息技术有限公司（重复）,企业,软件,王建国,,,139-1234-5678,,91310115MA1FL2QX3H,"
    "成交客户,已核实,上海,上海,,,,,\r\n"
    "6,手机: phone.invalid (not a valid phone); 邮箱: email.invalid (not a valid e-mail),"
    "L0006,成都天府软件有限公司,企业,软件,孙丽,,,12345,sunli@,91510100MA61R3H07N,潜在客户,"
    "未核实,四川,成都,,,,,\r\n"
    "7,统一社会信用代码: uscc.checksum (the USCC check character does not match),"
    "L0007,北京恒信咨询有限公司,企业,咨询,周强,,,13512345678,zhouq@hengxin.example.cn,"
    "91110108MA01G4B2X1,成交客户,已核实,北京,北京,,,,,\r\n"
    "8,客户名称: required (a value is required),"
    "L0008,,企业,物流,吴刚,,,13698765432,,,潜在客户,未核实,湖北,武汉,,,,,\r\n"
    '9,"row: row.extra_cells (20 cells for 19 columns: an unquoted delimiter inside a value?); '
    "客户性质: enum (expected one of 'individual', 'organization'); "
    "状态: enum (expected one of 'unverified', 'pending_review', 'verified', 'rejected'); "
    '邮箱: email.invalid (not a valid e-mail)",'
    "L0009,苏州工业园区,精密机械有限公司,企业,机械,冯涛,,,13912340000,,,潜在客户,未核实,"
    "江苏,苏州,,,,,展会客户\r\n"
    '10,"合同金额: money.format (not a sum of money); '
    "签约日期: date.format (not a date in the expected formats); "
    "客户类型: enum (expected one of 'lead', 'prospect', 'new', 'active', 'dormant', "
    "'churned', 'archived')\","
    "L0010,南京金陵贸易有限公司,企业,贸易,郑华,,,13611112222,zhenghua@jinling.example.cn,,"
    "黑名单客户,已核实,江苏,南京,,abc,2023-13-45,,\r\n"
    "12,row: duplicate.in_file (same e-mail as row 11),L0012,李娜,个人,,李娜,,女,,"
    "LiNa@Example.COM,,潜在客户,未核实,天津,天津,,,,,重复录入\r\n"
)


def expected_report(*, counts: dict[str, int], error_file: str) -> dict[str, Any]:
    created = "already_applied" if counts["already_applied"] else "created"
    row_ids = [
        {"row": row, "outcome": created if outcome == "created" else outcome, "id": customer_id}
        for row, outcome, customer_id in ROW_IDS
    ]
    return {
        "report_version": 1,
        "import_id": "legacy-2024",
        "dry_run": False,
        "source": {
            "name": "legacy_customers.csv",
            "format": "csv",
            "encoding": "gb18030",
            "delimiter": ",",
            "headers": HEADERS,
            "line_end": "CRLF",
        },
        "mapping": "legacy CRM export",
        "policy": {
            "on_match": "skip",
            "on_file_duplicate": "skip",
            "batch_size": 5000,
            "sample_share": 0.15,
            "sample_seed": 0,
        },
        "rows": 15,
        "counts": counts,
        "ok": False,
        "columns": {"mapped": MAPPED, "unmapped": [], "missing": []},
        "issues": ISSUES,
        "sample": {"share": 0.15, "seed": 0, "ids": SAMPLE},
        "error_file": error_file,
        "error_rows": 7,
        "error_encoding": "gb18030",
        "error_line_end": "CRLF",
        "error_note": None,
        "row_ids": row_ids,
        "ids_file": None,
    }


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    store = SQLiteStore(tmp_path / "customers.sqlite")
    registry = Registry(store, keyring=KeyRing.generate())
    first = json.loads((EXAMPLES / "customers.jsonl").read_text(encoding="utf-8").splitlines()[0])
    registry.customers.intake({**first, "id": STORED_ID}, actor=MIGRATION)
    yield registry
    store.close()


def run(registry: Registry, errors: Path, *, dry_run: bool = False) -> ImportReport:
    mapping = load_mapping(MAPPING)
    with open_source(SOURCE) as rows, ErrorFile.for_source(errors, rows.info) as error_file:
        return plan_import(
            rows,
            mapping,
            registry,
            actor=MIGRATION,
            import_id="legacy-2024",
            dry_run=dry_run,
            error_file=error_file,
        )


def snapshot(registry: Registry) -> dict[str, tuple[int, str | None]]:
    """Every stored customer's version and grade, by id, and the number of audit entries that
    record writes (what a second run must not touch; its identity look-ups are audited reads)."""
    with registry._context.store.transaction(readonly=True) as session:
        rows = session.customers.query(limit=1000)
        writes = [e for e in session.audit.read(limit=10_000) if e.action != "customer.identify"]
    state = {row.id: (row.version, row.grade) for row in rows}
    state["audit"] = (len(writes), None)
    return state


def test_the_sample_is_gb18030_with_chinese_headers() -> None:
    raw = SOURCE.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gb18030").startswith("客户编号,客户名称,")


def test_report_and_error_file_are_exact(registry: Registry, tmp_path: Path) -> None:
    report = run(registry, tmp_path / "errors.csv")

    assert report.to_dict() == expected_report(counts=COUNTS, error_file="errors.csv")
    # the source's encoding (GB18030, as Excel on Chinese Windows writes and reads it) and
    # line ends (CRLF), rows skipped as duplicates in the file included
    assert (tmp_path / "errors.csv").read_bytes() == ERROR_FILE.encode("gb18030")
    assert registry.customers.count(actor=MIGRATION) == 1 + 7


def test_legacy_values_are_normalised(registry: Registry, tmp_path: Path) -> None:
    run(registry, tmp_path / "errors.csv")
    converter = make_converter()
    by_name = {
        c.name: converter.unstructure(c)
        for batch in registry.customers.batches(actor=READER)
        for c in batch
    }
    first = by_name["上海明远信息技术有限公司"]
    assert first["stage"] == "active"
    assert first["verification"] == "verified"
    assert first["source"] == "legacy-crm"
    assert first["contacts"][0]["phones"] == ["+8613912345678"]  # from full-width digits
    assert first["milestones"]["contract_amount"] == {"amount": "1250000.00", "currency": "CNY"}
    assert first["milestones"]["contract_signed_on"] == "2023-05-06"
    assert first["tags"] == ["重点", "华东"]
    assert first["identifiers"] == [
        {"scheme": "CN-USCC", "value": "91310115MA1FL2QX3H", "system": None},
        {"scheme": "EXTERNAL", "value": "L0001", "system": "legacy-crm"},
    ]
    person = by_name["刘洋"]
    assert (person["kind"], person["gender"]) == ("individual", "male")
    assert person["milestones"]["contract_amount"] == {"amount": "12800.50", "currency": "CNY"}
    assert by_name["李娜"]["gender"] == "female"
    lead = by_name["杭州云帆网络科技有限公司"]
    assert lead["stage"] == "lead"
    assert lead["verification"] == "pending_review"
    assert lead["milestones"]["contract_amount"] == {"amount": "15000.0", "currency": "CNY"}
    assert lead["milestones"]["contract_signed_on"] == "2024-03-20"
    trade = by_name["广州粤海贸易有限公司"]
    assert trade["contacts"][0] == {
        "name": "黄伟",
        "title": None,  # "N/A"
        "phones": ["+862083331234"],
        "emails": [],  # "-"
        "wechat": None,
        "primary": False,
    }
    assert trade["milestones"]["contract_amount"] == {"amount": "25000", "currency": "USD"}
    assert by_name["武汉光谷生物科技有限公司"]["addresses"] == []  # short row: no address cells


def test_a_second_run_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    run(registry, tmp_path / "first.csv")
    before = snapshot(registry)

    again = run(registry, tmp_path / "second.csv")

    assert snapshot(registry) == before
    counts = {**COUNTS, "created": 0, "already_applied": 7}
    assert again.to_dict() == expected_report(counts=counts, error_file="second.csv")
    assert (tmp_path / "second.csv").read_bytes() == ERROR_FILE.encode("gb18030")
    assert registry.audit.verify(actor=READER).ok


def test_a_dry_run_writes_nothing_and_predicts_the_real_run(
    registry: Registry, tmp_path: Path
) -> None:
    before = snapshot(registry)

    planned = run(registry, tmp_path / "planned.csv", dry_run=True)

    assert snapshot(registry) == before
    real = run(registry, tmp_path / "planned.csv")
    assert {**planned.to_dict(), "dry_run": False} == real.to_dict()


def test_the_fixed_error_file_feeds_back(registry: Registry, tmp_path: Path) -> None:
    run(registry, tmp_path / "errors.csv")
    text = (tmp_path / "errors.csv").read_bytes().decode("gb18030")
    fixed = text.replace(",12345,sunli@,", ",13512340000,sunli@tianfu.example.cn,").replace(
        "L0008,,企业", "L0008,武汉顺达物流有限公司,企业"
    )
    (tmp_path / "fixed.csv").write_bytes(fixed.encode("gb18030"))
    with open_source(tmp_path / "fixed.csv") as rows:
        report = plan_import(
            rows, load_mapping(MAPPING), registry, actor=MIGRATION, import_id="legacy-2024"
        )
        assert report.dry_run
        assert report.columns.unmapped == ()
    with open_source(tmp_path / "fixed.csv") as rows:
        again = plan_import(
            rows,
            load_mapping(MAPPING),
            registry,
            actor=MIGRATION,
            import_id="legacy-2024",
            dry_run=False,
        )
    # the duplicates, left as they were, now meet the customers their first rows stored
    assert {k.value: n for k, n in again.counts.items() if n} == {
        "created": 2,
        "rejected": 3,
        "duplicate_in_store": 2,
    }
    first_error = next(i for i in again.issues if i.severity.value == "error")
    assert first_error.row == 3  # row numbers of the fed-back file
    assert registry.customers.count(actor=MIGRATION) == 1 + 7 + 2

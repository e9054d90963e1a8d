"""``custrec demo``: messy sample data, then every part of custrec run on it once."""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Final

from custrec._files import open_private, write_private_text
from custrec.backends import SQLiteStore
from custrec.cli._schedule import DEFAULT_SCHEDULE
from custrec.cli._support import EXIT_CONFIG, EXIT_OK, _Failure, _print
from custrec.grading import RFMPolicy, abcd_by_amount
from custrec.interchange import ErrorFile, export_customers, load_mapping, open_source, plan_import
from custrec.interchange.activities import ActivityMapping, import_activities
from custrec.interchange.csvsafe import CsvWriter
from custrec.registry import Registry
from custrec.security import Actor, KeyRing, generate_key_file
from custrec.validation import uscc

_DEMO_MAPPING: Final = {
    "name": "demo legacy CRM export",
    "timezone": "+08:00",
    "date_formats": ["%Y/%m/%d", "%Y-%m-%d", "%Y年%m月%d日"],
    "defaults": {"kind": "organization", "source": "legacy-crm"},
    "columns": {
        "客户编号": "identifiers[EXTERNAL:legacy-crm]",
        "客户名称": {"field": "name", "required": True},
        "客户性质": {"field": "kind", "values": {"企业": "organization", "个人": "individual"}},
        "行业": "industry",
        "联系人": "contacts[0].name",
        "性别": {"field": "gender", "values": {"男": "male", "女": "female"}},
        "手机": "contacts[0].phones[0]",
        "邮箱": "contacts[0].emails[0]",
        "统一社会信用代码": "identifiers[CN-USCC]",
        "客户类型": {
            "field": "stage",
            "values": {"意向客户": "lead", "潜在客户": "prospect", "成交客户": "active"},
        },
        "状态": {"field": "verification", "values": {"未核实": "unverified", "已核实": "verified"}},
        "城市": "addresses[0].city",
        "合同金额": "milestones.contract_amount",
        "签约日期": "milestones.contract_signed_on",
    },
}
_MOBILE_PREFIXES: Final = ("135", "136", "137", "138", "139", "150", "151", "158", "186", "188")
_SURNAMES: Final = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN: Final = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "杰", "军", "勇", "涛", "明")
_CITIES: Final = (("北京", "110105"), ("上海", "310115"), ("深圳", "440300"), ("杭州", "330106"))
_WORDS: Final = ("星河", "恒信", "云帆", "华南", "金陵", "明远", "天府", "光谷", "海纳", "博远")
_TRADES: Final = (("软件", "科技"), ("贸易", "贸易"), ("咨询", "咨询"), ("制造", "机械"))


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" else c for c in text)


def _demo_rows(count: int, seed: int) -> list[list[str]]:
    """Messy legacy rows: full-width digits, currency formats, duplicates and broken rows."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for i in range(1, count + 1):
        city, division = rng.choice(_CITIES)
        trade, suffix = rng.choice(_TRADES)
        person = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        individual = rng.random() < 0.2
        phone = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if rng.random() < 0.15:
            phone = _full_width(phone)
        body = "91" + division + "".join(rng.choice(uscc.ALPHABET) for _ in range(9))
        amount = rng.randrange(1, 500) * 1000
        money = rng.choice([f"¥{amount:,}", f"{amount}", f"RMB {amount:,}.00", f"{amount / 1e4}万"])
        signed = date(2021, 1, 1) + timedelta(days=rng.randrange(1200))
        when = rng.choice(
            [
                signed.strftime("%Y/%m/%d"),
                signed.isoformat(),
                f"{signed:%Y}年{signed.month}月{signed.day}日",
            ]
        )
        row = [
            f"D{i:05d}",
            person if individual else f"{city}{rng.choice(_WORDS)}{suffix}有限公司{i}",
            "个人" if individual else "企业",
            "" if individual else trade,
            person,
            rng.choice("男女") if individual else "",
            phone,
            f"user{i}@example.cn",
            "" if individual else body + uscc.calc_check_digit(body),
            rng.choice(("意向客户", "潜在客户", "成交客户")),
            rng.choice(("未核实", "已核实")),
            city,
            money,
            when,
        ]
        roll = rng.random()
        if roll < 0.04:
            row[6] = "12345"  # not a phone
        elif roll < 0.07:
            row[1] = ""  # no name
        elif roll < 0.09:
            row[12] = "about 5k"  # not an amount
        rows.append(row)
        if rng.random() < 0.05:  # the same customer entered twice, formatted differently
            twin = list(row)
            twin[0] = f"D{i:05d}b"
            twin[6] = row[6][:3] + "-" + row[6][3:7] + "-" + row[6][7:]
            rows.append(twin)
    return rows


_DEMO_ACTIVITY_MAPPING: Final = {
    "kind": "transaction",
    "timezone": "Asia/Shanghai",
    "date_formats": ["%Y/%m/%d", "%Y-%m-%d", "%Y年%m月%d日"],
    "columns": {
        "客户编号": "customer.identifiers[EXTERNAL:legacy-crm]",
        "日期": "occurred_at",
        "金额": "amount",
        "项目": "product",
        "单号": "reference",
    },
}


def _demo_transactions(rows: list[list[str]], seed: int, now: datetime) -> list[list[str]]:
    """Each legacy row's contract (its amount on its signing date), then renewals until now."""
    rng = random.Random(seed + 1)
    sales: list[list[str]] = []
    today = now.date()
    for row in rows:
        number, amount, signed_text = row[0], row[12], row[13]
        sales.append([number, signed_text, amount, "contract", f"{number}-C"])
        try:
            signed = date.fromisoformat(signed_text.replace("/", "-"))
        except ValueError:  # written as 2023年5月6日: the contract is enough
            continue
        for n in range(rng.randrange(0, 5)):
            day = signed + timedelta(days=rng.randrange(30, 400) * (n + 1))
            if day >= today:
                break
            renewal = f"{rng.randrange(5, 300) * 100}"
            sales.append([number, day.isoformat(), renewal, "renewal", f"{number}-R{n + 1}"])
    return sales


def _cmd_demo(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    keys = base / "demo.keys.json"
    db = base / "demo.sqlite"
    source = base / "legacy_customers.csv"
    mapping_path = base / "legacy_mapping.json"
    if db.exists():
        raise _Failure(EXIT_CONFIG, f"{base} already holds a demo; remove it or name another DIR")
    if not keys.exists():
        generate_key_file(keys)
    headers = list(_DEMO_MAPPING["columns"])
    with open_private(source, encoding="gb18030", newline="") as stream:
        writer = CsvWriter(stream)
        writer.writerow(headers)
        rows_written = _demo_rows(args.rows, args.seed)
        writer.writerows(rows_written)
    write_private_text(mapping_path, json.dumps(_DEMO_MAPPING, ensure_ascii=False, indent=2))
    _print(out, f"1. wrote {args.rows} messy legacy rows (GB18030) to {source}")
    mapping = load_mapping(mapping_path)
    keyring = KeyRing.from_file(keys)
    open_private(db, "x").close()  # SQLite keeps an existing file's mode (and its WAL's)
    store = SQLiteStore(db)
    try:
        registry = Registry(store, keyring=keyring)
        operator = Actor(id=args.actor, roles={"admin", "export", "unmask", "auditor"})
        for dry_run in (True, False):
            with (
                open_source(source) as rows,
                ErrorFile.for_source(base / "legacy_customers.errors.csv", rows.info) as errors,
            ):
                report = plan_import(
                    rows,
                    mapping,
                    registry,
                    actor=operator,
                    import_id="demo",
                    dry_run=dry_run,
                    error_file=errors,
                )
            step = "2. dry run (nothing written)" if dry_run else "3. import"
            _print(out, f"\n{step}")
            _print(out, report.render(max_issues=5))
        write_private_text(base / "import-report.json", report.to_json() + "\n")
        as_of = datetime.now(UTC)
        sales = base / "legacy_transactions.csv"
        with open_private(sales, encoding="utf-8", newline="") as stream:
            writer = CsvWriter(stream)
            writer.writerow(list(_DEMO_ACTIVITY_MAPPING["columns"]))
            writer.writerows(_demo_transactions(rows_written, args.seed, as_of))
        activity_mapping = ActivityMapping.from_dict(_DEMO_ACTIVITY_MAPPING)
        write_private_text(
            base / "legacy_transactions_mapping.json",
            json.dumps(activity_mapping.to_dict(), ensure_ascii=False, indent=2),
        )
        with open_source(sales) as rows:
            sold = import_activities(
                rows,
                activity_mapping,
                registry,
                actor=operator,
                import_id="demo-sales",
                errors_path=base / "legacy_transactions.errors.csv",
            )
        _print(out, f"\n4. transactions from the contracts and renewals in {sales}")
        _print(out, sold.render(max_issues=3))
        for policy in (RFMPolicy(), abcd_by_amount(Decimal(100000), Decimal(20000))):
            result = registry.grading.regrade(policy, as_of=as_of, actor=operator)
            _print(out, f"5. graded {result.graded} customers with {result.policy_id}")
        exported = export_customers(
            registry,
            base / "export.csv",
            actor=Actor(id=args.actor, roles={"admin", "export"}),
            format="csv",
        )
        _print(out, f"6. exported {exported.exported} customers, masked, to {base / 'export.csv'}")
        plan = registry.retention.plan(
            as_of=as_of + timedelta(days=800), actor=operator, schedule=DEFAULT_SCHEDULE
        )
        actions = Counter(a.action.value for a in plan)
        _print(
            out, f"7. retention plan 800 days ahead (not applied): {dict(sorted(actions.items()))}"
        )
        verified = registry.audit.verify(actor=operator)
        _print(out, f"8. audit chain ok={verified.ok}, {verified.checked} entries")
        quality = registry.quality.report(actor=operator, as_of=as_of)
        _print(
            out,
            f"9. quality: {quality.total} customers, {quality.overall_completeness:.0f}% "
            f"complete, {quality.duplicates} duplicates, {quality.stale_percentage:.0f}% not "
            "verified within a year",
        )
    finally:
        store.close()
    _print(out, "\nnext, try:")
    flags = f"--db {db} --keys {keys}"
    _print(out, f"  custrec quality {flags}")
    _print(out, f"  custrec grade --policy pareto-value {flags}")
    _print(out, f"  custrec grade --policy stars {flags}")
    _print(out, f"  custrec grade --policy churn {flags}   # into the 'churn' dimension")
    _print(
        out,
        f"  custrec import-activities {base / 'legacy_transactions.csv'} --mapping "
        f"{base / 'legacy_transactions_mapping.json'} {flags}   # again: nothing twice",
    )
    _print(out, f"  custrec export {base / 'export.jsonl'} --unmask {flags}")
    _print(out, f"  custrec audit verify {flags}")
    return EXIT_OK

"""``custrec import-activities`` and ``custrec grade``: transactions and interactions from files
onto stored customers, then every grading policy on them."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore, cli
from custrec.model.records import Interaction, Transaction

PHONES = ("13800138000", "13900139000", "13700137000")


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def custrec(*argv: str | Path) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], stdout=out, stderr=err)
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    for variable in ("CUSTREC_KEY_FILE", "CUSTREC_DB", "CUSTREC_MASTER_KEYS", "CUSTREC_INDEX_KEYS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CUSTREC_ACTOR", "tester")
    monkeypatch.chdir(tmp_path)
    keys = tmp_path / "custrec.keys.json"
    assert custrec("keys", "init", keys).code == cli.EXIT_OK
    return {"dir": tmp_path, "keys": keys, "db": tmp_path / "customers.sqlite"}


def flags(env: dict[str, Path]) -> list[str | Path]:
    return ["--db", env["db"], "--keys", env["keys"]]


OPS = Actor(id="ops", roles={"admin", "unmask"})


@pytest.fixture
def opened(env: dict[str, Path]) -> Iterator[Registry]:
    store = SQLiteStore(env["db"])
    try:
        yield Registry(store, keyring=KeyRing.from_file(env["keys"]))
    finally:
        store.close()


def seed_customers(env: dict[str, Path]) -> list[str]:
    """Three individuals with a phone each; the third also holds the first one's phone."""
    store = SQLiteStore(env["db"])
    registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
    ids = []
    for n, phone in enumerate(PHONES):
        phones = [phone, PHONES[0]] if n == 2 else [phone]
        customer = registry.customers.intake(
            {
                "kind": "individual",
                "name": f"客户{n}",
                "contacts": [{"phones": phones}],
                "identifiers": [{"scheme": "EXTERNAL", "system": "erp", "value": f"E-{n}"}],
            },
            actor=OPS,
            allow_duplicates=True,
        )
        ids.append(customer.id)
    store.close()
    return ids


def activities_of(env: dict[str, Path], customer_id: str) -> list[Transaction | Interaction]:
    store = SQLiteStore(env["db"])
    try:
        registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
        return registry.activities.list(customer_id, actor=OPS)
    finally:
        store.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- transactions


def test_transactions_by_customer_id_are_recorded_once(env: dict[str, Path]) -> None:
    first, second, _ = seed_customers(env)
    source = write(
        env["dir"] / "sales.csv",
        "customer_id,occurred_at,amount,product,reference\n"
        f"{first},2024-05-06T10:00:00+08:00,¥1200.50,license,INV-1\n"
        f"{second},2024-05-07,USD 300,support,INV-2\n"
        f"{first},2024-06-01,99,license,\n",
    )
    result = custrec("import-activities", source, "--kind", "transactions", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    assert "recorded: 3" in result.out
    bought = activities_of(env, first)
    assert sorted(str(t.amount.amount) for t in bought if isinstance(t, Transaction)) == [
        "1200.50",
        "99",
    ]
    [usd] = activities_of(env, second)
    assert isinstance(usd, Transaction) and usd.amount.currency == "USD"
    again = custrec("import-activities", source, "--kind", "transactions", *flags(env))
    assert again.code == cli.EXIT_OK and "already imported: 3" in again.out
    renamed = custrec(
        "import-activities", source, "--kind", "transactions", "--import-id", "other", *flags(env)
    )
    assert "already imported: 3" in renamed.out  # the rows, not the import's name, decide
    assert len(activities_of(env, first)) == 2
    assert not (env["dir"] / "sales.errors.csv").exists()


def test_identical_rows_without_a_reference_are_two_purchases(env: dict[str, Path]) -> None:
    first, _, _ = seed_customers(env)
    line = f"{first},2024-05-06,100\n"
    source = write(env["dir"] / "twice.csv", "customer_id,occurred_at,amount\n" + line * 2)
    assert custrec("import-activities", source, "--kind", "transactions", *flags(env)).code == 0
    assert len(activities_of(env, first)) == 2
    custrec("import-activities", source, "--kind", "transactions", *flags(env))
    assert len(activities_of(env, first)) == 2


def test_a_reference_twice_in_a_file_is_recorded_once(env: dict[str, Path]) -> None:
    first, _, _ = seed_customers(env)
    line = f"{first},2024-05-06,100,INV-9\n"
    source = write(env["dir"] / "dup.csv", "customer_id,occurred_at,amount,reference\n" + line * 2)
    result = custrec("import-activities", source, "--kind", "transactions", *flags(env))
    assert "recorded: 1" in result.out and "duplicate in file: 1" in result.out
    assert len(activities_of(env, first)) == 1


def test_a_mapping_finds_customers_by_identifier_in_a_zone(env: dict[str, Path]) -> None:
    first, _, _ = seed_customers(env)
    source = write(env["dir"] / "erp.csv", "客户编号,日期,金额\nE-0,2024/05/06 09:30,1.5万\n")
    mapping = write(
        env["dir"] / "erp.toml",
        'kind = "transaction"\ntimezone = "Asia/Shanghai"\n'
        'date_formats = ["%Y/%m/%d %H:%M"]\n[columns]\n'
        '"客户编号" = "customer.identifiers[EXTERNAL:erp]"\n"日期" = "occurred_at"\n'
        '"金额" = "amount"\n[defaults]\nproduct = "contract"\n',
    )
    result = custrec("import-activities", source, "--mapping", mapping, *flags(env))
    assert result.code == cli.EXIT_OK, result.err + result.out
    [bought] = activities_of(env, first)
    assert isinstance(bought, Transaction)
    assert bought.occurred_at.isoformat() == "2024-05-06T01:30:00+00:00"
    assert bought.amount.amount == 15000 and bought.product == "contract"


def test_bad_rows_go_to_the_error_file_without_their_values_in_the_output(
    env: dict[str, Path],
) -> None:
    seed_customers(env)
    source = write(
        env["dir"] / "messy.csv",
        "customer_phone,occurred_at,amount\n"
        f"{PHONES[1]},2024-05-06,100\n"  # good
        f"{PHONES[0]},2024-05-06,100\n"  # held by two customers
        "13600136000,2024-05-06,100\n"  # nobody's
        f"{PHONES[1]},someday,100\n"
        f"{PHONES[1]},2024-05-06,about 5k\n"
        "12345,2024-05-06,100\n"
        f"{PHONES[1]},2099-01-01,100\n",
    )
    result = custrec(
        "import-activities", source, "--kind", "transactions", "--report", "r.json", *flags(env)
    )
    assert result.code == cli.EXIT_PROBLEMS
    assert "recorded: 1" in result.out and "rejected: 6" in result.out
    for code in (
        "customer.ambiguous",
        "customer.not_found",
        "datetime.format",
        "money.format",
        "customer.phone.invalid",
        "date.future",
    ):
        assert code in result.out
    for phone in (*PHONES, "13600136000", "12345"):
        assert phone not in result.out and phone not in result.err
    errors = env["dir"] / "r.errors.csv"
    assert stat.S_IMODE(errors.stat().st_mode) == 0o600
    assert len(errors.read_text(encoding="utf-8-sig").splitlines()) == 7  # header + 6 rows
    report = json.loads((env["dir"] / "r.json").read_text())
    assert report["counts"]["rejected"] == 6 and report["errors_written"] == 6
    assert (
        custrec(
            "import-activities", source, "--kind", "transactions", "--exit-zero", *flags(env)
        ).code
        == cli.EXIT_OK
    )


def test_a_dry_run_writes_nothing(env: dict[str, Path]) -> None:
    first, _, _ = seed_customers(env)
    source = write(env["dir"] / "s.csv", f"customer_id,occurred_at,amount\n{first},2024-01-02,5\n")
    result = custrec(
        "import-activities", source, "--kind", "transactions", "--dry-run", *flags(env)
    )
    assert result.code == cli.EXIT_OK and "ready: 1" in result.out
    assert activities_of(env, first) == []


# ---------------------------------------------------------------------------- interactions


def test_interactions_from_json_lines_by_phone(env: dict[str, Path]) -> None:
    _, second, _ = seed_customers(env)
    source = write(
        env["dir"] / "calls.jsonl",
        json.dumps(
            {
                "customer_phone": PHONES[1],
                "kind": "call",
                "occurred_at": "2024-05-06T09:00:00+08:00",
                "summary": "asked for a quote",
                "satisfaction": 4,
            },
            ensure_ascii=False,
        )
        + "\n"
        + json.dumps({"customer_phone": PHONES[1], "kind": "telepathy", "occurred_at": "2024"})
        + "\n",
    )
    result = custrec("import-activities", source, "--kind", "interactions", *flags(env))
    assert result.code == cli.EXIT_PROBLEMS
    assert "recorded: 1" in result.out and "rejected: 1" in result.out
    assert "asked for a quote" not in result.out
    [call] = activities_of(env, second)
    assert isinstance(call, Interaction) and call.satisfaction == 4
    assert call.summary == "asked for a quote"


# ---------------------------------------------------------------------------- refusals


def test_a_file_that_does_not_fit_writes_nothing(env: dict[str, Path]) -> None:
    seed_customers(env)
    source = write(env["dir"] / "odd.csv", "who,when,how much\nx,2024-01-01,1\n")
    result = custrec("import-activities", source, "--kind", "transactions", *flags(env))
    assert result.code == cli.EXIT_CONFIG and "finds the customer" in result.err
    assert not (env["dir"] / "odd.errors.csv").exists()
    no_kind = custrec("import-activities", source, *flags(env))
    assert no_kind.code == cli.EXIT_USAGE and "--kind" in no_kind.err
    mapping = write(env["dir"] / "m.json", json.dumps({"kind": "transaction", "columns": {}}))
    bad = custrec("import-activities", source, "--mapping", mapping, *flags(env))
    assert bad.code == cli.EXIT_CONFIG and "exactly one column" in bad.err
    wrong_kind = custrec(
        "import-activities", source, "--mapping", mapping, "--kind", "interactions", *flags(env)
    )
    assert wrong_kind.code == cli.EXIT_CONFIG and "not interactions" in wrong_kind.err
    martian = {"kind": "transaction", "timezone": "Mars/Base", "columns": {"who": "customer.id"}}
    zone = write(env["dir"] / "z.json", json.dumps(martian))
    assert "timezone" in custrec("import-activities", source, "--mapping", zone, *flags(env)).err


def test_without_a_database_nothing_is_created(env: dict[str, Path]) -> None:
    source = write(env["dir"] / "s.csv", "customer_id,occurred_at,amount\nx,2024-01-02,5\n")
    result = custrec("import-activities", source, "--kind", "transactions", *flags(env))
    assert result.code == cli.EXIT_CONFIG and "no database" in result.err
    assert not env["db"].exists()


# ---------------------------------------------------------------------------- the demo, graded


def test_the_demo_database_grades_with_rfm_stars_and_churn(env: dict[str, Path]) -> None:
    demo = env["dir"] / "demo"
    made = custrec("demo", demo, "--rows", "40")
    assert made.code == cli.EXIT_OK, made.err
    assert "4. transactions from the contracts" in made.out and "recorded:" in made.out
    demo_flags = ["--db", demo / "demo.sqlite", "--keys", demo / "demo.keys.json"]
    for policy in ("rfm", "stars", "churn"):
        result = custrec("grade", "--policy", policy, *demo_flags)
        assert result.code == cli.EXIT_OK, (policy, result.err)
        assert "graded" in result.out
    assert "dimension 'churn'" in result.out


# ---------------------------------------------------------------------------- grading


def bought(env: dict[str, Path], ids: list[str]) -> None:
    lines = ["customer_id,occurred_at,amount"]
    for n, customer_id in enumerate(ids):
        for k in range(n + 1):
            lines.append(f"{customer_id},2024-0{k + 1}-1{n},{1000 * (n + 1)}")
    source = write(env["dir"] / "bought.csv", "\n".join(lines) + "\n")
    assert custrec("import-activities", source, "--kind", "transactions", *flags(env)).code == 0


@pytest.mark.parametrize(
    ("options", "policy_id", "labels"),
    [
        (["rfm", "--bins", "3"], "rfm:bins=3", None),
        (["pareto-value", "--labels", "X,Y,Z"], "pareto:basis=value", {"X", "Y", "Z"}),
        (["pareto-customers", "--breakpoints", "0.5"], "basis=customers", {"A", "B"}),
        (["abcd", "--cuts", "3000,2000"], "threshold:total_spent>=3000/2000", {"A", "B", "C"}),
        (
            ["threshold", "--metric", "purchase_count", "--cuts", "3,2", "--labels", "hi,mid,lo"],
            "threshold:purchase_count",
            {"hi", "mid", "lo"},
        ),
        (["stars", "--amount-weight", "1", "--frequency-weight", "0"], "stars:", None),
        (["churn", "--k", "3"], "churn:k=3", {"ok", "churn risk"}),
    ],
)
def test_every_policy_grades_with_its_options(
    env: dict[str, Path], options: list[str], policy_id: str, labels: set[str] | None
) -> None:
    ids = seed_customers(env)
    bought(env, ids)
    result = custrec("grade", "--policy", *options, "--as-of", "2025-01-31", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    assert policy_id in result.out and "graded 3" in result.out
    if labels is not None:
        table = result.out.split("---\n", 1)[1]
        assert {line.rsplit(" ", 1)[0].strip() for line in table.splitlines()} <= labels


def test_rfm_over_customers_without_purchases_says_how_to_record_them(
    env: dict[str, Path],
) -> None:
    seed_customers(env)
    result = custrec("grade", "--policy", "rfm", "--as-of", "2025-01-31", *flags(env))
    assert result.code == cli.EXIT_CONFIG
    assert "no customer in the population has purchases" in result.err
    assert "custrec import-activities" in result.err


def test_grades_go_to_the_dimension_asked_for(env: dict[str, Path]) -> None:
    ids = seed_customers(env)
    bought(env, ids)
    custrec("grade", "--policy", "churn", "--as-of", "2025-01-31", *flags(env))
    custrec("grade", "--policy", "stars", "--dimension", "value", *flags(env))
    custrec("grade", "--policy", "abcd", "--cuts", "3000,2000", *flags(env))
    store = SQLiteStore(env["db"])
    try:
        registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
        customer = registry.customers.get(ids[2], actor=OPS)
    finally:
        store.close()
    assert customer.grade == "A"
    churn, value = customer.grade_in("churn"), customer.grade_in("value")
    assert churn is not None and churn.label in ("ok", "churn risk")
    assert value is not None and value.label.endswith(("star", "stars"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["stars", "--cuts", "0.5,0.4,0.6,0.8"], "invalid grading policy"),
        (["churn", "--k", "0"], "invalid grading policy"),
        (["threshold"], "needs --cuts"),
        (["threshold", "--cuts", "5,4,3,2,1"], "needs --labels"),
        (["pareto-value", "--labels", "A,B"], "invalid grading policy"),
        (["rfm", "--dimension", "Bad Name"], "--dimension"),
        (["stars", "--k", "3"], "--k does not apply to --policy stars"),
        (["rfm", "--cuts", "1,2"], "--cuts does not apply to --policy rfm"),
        (["churn", "--bins", "3"], "--bins does not apply to --policy churn"),
        (["pareto-value", "--exclusive"], "--exclusive does not apply"),
        (["abcd", "--cuts", "3000,2000", "--metric", "purchase_count"], "--metric does not"),
        (
            ["threshold", "--metric", "purchase_count", "--cuts", "3,2", "--currency", "USD"],
            "--currency does not apply to --metric purchase_count",
        ),
    ],
)
def test_bad_policy_options_are_usage_errors(
    env: dict[str, Path], options: list[str], message: str
) -> None:
    ids = seed_customers(env)
    bought(env, ids)
    result = custrec("grade", "--policy", *options, *flags(env))
    assert result.code == cli.EXIT_USAGE and message in result.err, result.err


def test_an_as_of_without_offset_is_read_in_the_zone(env: dict[str, Path]) -> None:
    ids = seed_customers(env)
    bought(env, ids)
    result = custrec(
        "grade",
        "--policy",
        "rfm",
        "--as-of",
        "2025-01-31T08:00",
        "--zone",
        "Asia/Shanghai",
        *flags(env),
    )
    assert result.code == cli.EXIT_OK and "as of 2025-01-31T00:00:00+00:00" in result.out
    berlin = custrec(
        "grade", "--policy", "rfm", "--as-of", "2025-07-01", "--zone", "Europe/Berlin", *flags(env)
    )
    assert "as of 2025-06-30T22:00:00+00:00" in berlin.out
    offset = custrec(
        "grade", "--policy", "rfm", "--as-of", "2025-07-01", "--zone", "+08:00", *flags(env)
    )
    assert "as of 2025-06-30T16:00:00+00:00" in offset.out
    given = custrec(
        "grade", "--policy", "rfm", "--as-of", "2025-07-01T00:00Z", "--zone", "+08:00", *flags(env)
    )
    assert "as of 2025-07-01T00:00:00+00:00" in given.out
    skipped = custrec(
        "grade",
        "--policy",
        "rfm",
        "--as-of",
        "2025-03-30T02:30",
        "--zone",
        "Europe/Berlin",
        *flags(env),
    )
    assert skipped.code == cli.EXIT_USAGE and "does not exist" in skipped.err
    repeated = custrec(
        "grade",
        "--policy",
        "rfm",
        "--as-of",
        "2025-10-26T02:30",
        "--zone",
        "Europe/Berlin",
        *flags(env),
    )
    assert "as of 2025-10-26T00:30:00+00:00" in repeated.out  # the first of the two
    for zone in ("Mars/Base", "+25:00", "../etc/passwd"):
        assert custrec("grade", "--policy", "rfm", "--zone", zone, *flags(env)).code == 2


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "+08:00"])
def test_contract_and_first_payment_days_are_the_mappings_zone_days(
    env: dict[str, Path], opened: Registry, zone: str
) -> None:
    first, _, _ = seed_customers(env)
    # 07:30 in Shanghai on 1 March is still 28 February in UTC
    source = write(
        env["dir"] / "contracts.csv",
        "customer_id,occurred_at,amount,category,reference\n"
        f"{first},2025-03-01 07:30,1.5万,contract,K1\n",
    )
    mapping = write(
        env["dir"] / "contracts.toml",
        f'kind = "transaction"\ntimezone = "{zone}"\ndate_formats = ["%Y-%m-%d %H:%M"]\n',
    )
    result = custrec("import-activities", source, "--mapping", mapping, *flags(env))
    assert result.code == cli.EXIT_OK, result.err + result.out
    milestones = opened.customers.get(first, actor=OPS).milestones
    assert str(milestones.contract_signed_on) == "2025-03-01"
    assert str(milestones.first_payment_on) == "2025-03-01"

"""Normalise and validate one messy customer record (the README quickstart)."""

from custrec.validation import parse_customer

messy = {
    "kind": "organization",
    "name": "  北京某某科技有限公司 ",
    "industry": "软件",
    "identifiers": [{"scheme": "CN-USCC", "value": "９１１１００００６０００３７３４１ｌ"}],
    "contacts": [
        {
            "name": "李雷",
            "phones": ["＋８６ １３８-００１３-８０００", "010-6552 9988", "12345"],
            "emails": ["LiLei@Example.COM"],
        }
    ],
}

result = parse_customer(messy)
print("ok:", result.report.ok)
for issue in result.report:
    print(" ", issue)  # e.g. contacts[0].phones[2]: phone.invalid (...)

# Fix the bad phone and parse again: the record comes back normalised.
messy["contacts"][0]["phones"].pop()  # type: ignore[index, union-attr]
fixed = parse_customer(messy)
assert fixed.record is not None
print("phones:", fixed.record.contacts[0].phones)
print("credit code:", fixed.record.identifiers[0].value)

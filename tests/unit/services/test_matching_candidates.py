"""An incremental search scores strong-identifier holders always and the rest within a budget."""

from __future__ import annotations

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.matching import MatchConfig, MatchDecision

ADMIN = Actor(id="admin", roles={"admin"})


def person(name: str, phone: str, street: str) -> dict[str, object]:
    return {
        "kind": "individual",
        "name": name,
        "contacts": [{"phones": [phone]}],
        "addresses": [{"city": "北京", "street": street}],
    }


def test_the_budget_keeps_the_records_sharing_the_most_keys() -> None:
    registry = Registry(
        MemoryStore(), keyring=KeyRing.generate(), matching=MatchConfig(max_candidates=2)
    )
    same_place = registry.customers.intake(person("王芳", "13800138000", "朝阳路8号"), actor=ADMIN)
    namesakes = [
        registry.customers.intake(person("王芳", f"1380013810{i}", f"长安街{i}号"), actor=ADMIN)
        for i in range(4)
    ]
    phone_holder = registry.customers.intake(person("李娜", "13900139000", "西单1号"), actor=ADMIN)

    search = registry.matching.find_duplicates(
        {
            "kind": "individual",
            "name": "王芳",
            "contacts": [{"phones": ["13900139000"]}],
            "addresses": [{"city": "北京", "street": "朝阳路8号"}],
        },
        actor=ADMIN,
        decision=MatchDecision.DISTINCT,
    )
    assert (search.compared, search.unscored) == (3, 3)  # 1 phone holder + a budget of 2
    found = {c.customer_id: c.decision for c in search.candidates}
    assert phone_holder.id in found  # scored, though another name makes it unlikely
    assert found[same_place.id] is MatchDecision.PROBABLE
    assert sum(1 for n in namesakes if n.id in found) <= 1


def test_a_stop_key_digest_cannot_be_recomputed_from_the_name_in_a_plaintext_store() -> None:
    import hashlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = Registry(MemoryStore(), matching=MatchConfig(cap=2))
    for i in range(3):
        registry.customers.intake(person("王芳", f"1380013810{i}", f"长安街{i}号"), actor=ADMIN)
    search = registry.matching.find_duplicates({"kind": "individual", "name": "王芳"}, actor=ADMIN)
    [stop] = search.stop_keys
    assert (stop.kind, stop.records) == ("blk.name", 3)
    bare = hashlib.sha256("blk.name:p:王芳".encode()).hexdigest()[:14]
    assert stop.digest != bare and "王" not in repr(search)
    again = registry.matching.find_duplicates({"kind": "individual", "name": "王芳"}, actor=ADMIN)
    assert again.stop_keys[0].digest == stop.digest  # stable within one registry

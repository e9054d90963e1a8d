"""Find duplicates before intake, cluster a store, merge a pair, and read the quality report.

python examples/find_and_merge_duplicates.py
"""

from __future__ import annotations

from custrec import Actor, KeyRing, MemoryStore, Registry

admin = Actor(id="u-admin", roles={"admin", "unmask"})
registry = Registry(MemoryStore(), keyring=KeyRing.generate())

# A legacy system holds the same person twice: pinyin in another order, a new phone,
# the street number typed in full-width digits.
first = registry.customers.intake(
    {
        "kind": "individual",
        "name": "Zhang Wei",
        "contacts": [{"phones": ["13800138000"]}],
        "addresses": [{"city": "北京", "street": "朝阳路 8 号"}],
    },
    actor=admin,
)
second = registry.customers.intake(
    {
        "kind": "individual",
        "name": "WEI ZHANG",
        "contacts": [{"phones": ["13900139000"], "emails": ["zw@example.com"]}],
        "addresses": [{"city": "北京", "street": "朝阳路８号"}],
    },
    actor=admin,
)

# 1. Before taking a third record in, ask who it may be.
search = registry.matching.find_duplicates(
    {
        "kind": "individual",
        "name": "zhang wei",
        "contacts": [{"emails": ["ZW@example.com"]}],
    },
    actor=admin,
)
best = search.best
assert best is not None and best.customer_id == second.id
print("best candidate:", best.decision.value, [str(r) for r in best.reasons])

# 2. Cluster the whole store: the two stored records are one customer.
run = registry.matching.clusters(actor=admin)
cluster = run.clusters[0]
print("cluster:", cluster.decision.value, [str(r) for m in cluster.matches for r in m.reasons])

# 3. Merge them: both phones survive, the second id becomes an alias of the first.
result = registry.matching.merge(
    first.id, [second.id], actor=admin, reason="duplicate found by clustering"
)
phones = sorted(p for c in result.customer.contacts for p in c.phones)
assert phones == ["+8613800138000", "+8613900139000"]
assert registry.customers.get(second.id, actor=admin).id == first.id
print("merged; fields changed:", [c.field for c in result.choices if c.changed])

# 4. The quality report counts what is left.
report = registry.quality.report(actor=admin)
assert report.total == 1 and report.duplicates == 0
print(report.to_table())

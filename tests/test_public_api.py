"""The public names promised in shared/DESIGN.md section 3 exist and are importable."""

from __future__ import annotations

import importlib

import pytest

PROMISED = {
    "custrec": ["Registry", "MemoryStore", "SQLiteStore", "KeyRing", "Actor"],
    "custrec.validation": ["validate", "parse_customer", "ValidationReport", "Issue"],
    "custrec.validation.uscc": ["compact", "validate", "is_valid", "format"],
    "custrec.validation.ric": [
        "compact",
        "validate",
        "is_valid",
        "format",
        "to_18",
        "birth_date",
        "sex",
    ],
    "custrec.validation.phone": ["normalize", "is_valid"],
    "custrec.validation.email": ["normalize", "is_valid"],
    "custrec.retry": ["retry", "retrying", "retry_safe", "backoff_delay"],
    "custrec.records": [
        "Customer",
        "CustomerKind",
        "LifecycleStage",
        "Contact",
        "Address",
        "Identifier",
        "Transaction",
        "Interaction",
    ],
    "custrec.grading": [
        "GradingPolicy",
        "Grade",
        "ActivitySummary",
        "ThresholdPolicy",
        "ParetoPolicy",
        "RFMPolicy",
        "StarPolicy",
    ],
    "custrec.consent": [
        "Purpose",
        "LawfulBasis",
        "ConsentEvent",
        "ConsentLedger",
        "Decision",
        "Jurisdiction",
    ],
    "custrec.retention": ["RetentionRule", "RetentionSchedule", "LegalHold", "PlannedAction"],
    "custrec.security": [
        "KeyRing",
        "KeyProvider",
        "Actor",
        "AccessPolicy",
        "RoleBasedPolicy",
        "mask",
        "AuditChain",
    ],
    "custrec.storage": ["Store", "Session", "WorkTable", "ChangeTable"],
    "custrec.workflow": [
        "Case",
        "Task",
        "LifecycleRule",
        "SlaPolicy",
        "BusinessCalendar",
        "RecurringTask",
        "WorkflowSettings",
    ],
    "custrec.errors": [
        "CustrecError",
        "InvalidPhone",
        "InvalidEmail",
        "ValidationFailed",
        "DuplicateCustomer",
        "NotFound",
        "DuplicateKey",
        "VersionConflict",
        "StorageError",
        "AccessDenied",
        "Erased",
        "InvalidState",
    ],
    "custrec.backends": ["MemoryStore", "SQLiteStore"],
    "custrec.testing": [
        "StoreContract",
        "ArgumentRulesContract",
        "MetaTableContract",
        "DocumentContract",
    ],
    "custrec.model.serialization": ["make_converter"],
    # issue: duplicates, merging, review, quality
    "custrec.matching": [
        "compare",
        "profile",
        "MatchDecision",
        "Thresholds",
        "MatchConfig",
        "DuplicateSearch",
        "ClusterRun",
        "SurvivorshipRules",
        "merge_records",
    ],
    "custrec.matching.similarity": ["ratio", "jaro_winkler", "token_sort_ratio", "BACKEND"],
    "custrec.verification": ["Verifier", "VerificationResult", "VerificationOutcome"],
    "custrec.quality": ["assess", "QualityReport"],
    "custrec.testing.synthetic": ["labelled_customers", "pair_metrics"],
}


SERVICES = {
    "customers": [
        "intake",
        "intake_many",
        "get",
        "find",
        "search",
        "identify",
        "query",
        "batches",
        "ids",
        "count",
        "update",
        "history",
    ],
    "fields": ["current", "history", "define", "change", "remove"],
    "processing": ["processing_map"],
    "disclosures": [
        "register_recipient",
        "update_recipient",
        "recipient",
        "recipients",
        "start",
        "disclose",
        "disclosure",
        "disclosures",
        "customers",
        "of_customer",
    ],
    "sampling": [
        "sample",
        "batch",
        "batches",
        "records",
        "read",
        "record_check",
        "report",
        "decide",
    ],
    "activities": ["record_transaction", "record_interaction", "list", "summaries"],
    "grading": ["regrade", "distribution"],
    "consent": [
        "record",
        "grant",
        "withdraw",
        "object_to",
        "restrict",
        "lift_restriction",
        "ledger",
        "may_use",
        "audience",
    ],
    "retention": ["plan", "apply"],
    "matching": ["find_duplicates", "clusters", "merge", "aliases"],
    "review": ["approve", "reject", "verify", "results", "pending"],
    "quality": ["report", "breakdown"],
    "privacy": ["export_subject", "erase", "journal", "replay_erasures"],
    "keys": ["rotate_master", "reindex", "separate"],
    "audit": ["trail", "touched_by", "verify", "checkpoint", "reset_head"],
    "backups": ["backup"],
    "cases": [
        "open",
        "transition",
        "assign",
        "escalate",
        "get",
        "list_for",
        "overdue",
        "due_soon",
        "listed",
        "stats",
    ],
    "tasks": ["create", "complete", "cancel", "get", "list_for", "overdue", "due", "listed"],
    "workflow": ["sweep"],
    "changes": ["since"],
    "reports": ["counts", "new_customers", "repurchase"],
    "incidents": [
        "open",
        "incident",
        "incidents",
        "move",
        "report_to_authority",
        "assess",
        "affected",
        "notification_list",
        "record_notice",
    ],
}


def test_the_registry_reaches_every_capability_through_one_service_attribute() -> None:
    import warnings

    from custrec import MemoryStore, Registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = Registry(MemoryStore())
    for attribute, methods in SERVICES.items():
        service = getattr(registry, attribute)
        missing = [m for m in methods if not callable(getattr(service, m, None))]
        assert missing == [], attribute
    public = {n for n in vars(registry) if not n.startswith("_")}
    assert public == set(SERVICES)  # the facade holds services and nothing else
    assert not hasattr(registry, "store")  # the raw store is not part of the facade


@pytest.mark.parametrize("module", sorted(PROMISED))
def test_promised_names_exist(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in PROMISED[module] if not hasattr(imported, name)]
    assert missing == []


def test_errors_share_one_base() -> None:
    from custrec import errors

    for name in PROMISED["custrec.errors"]:
        assert issubclass(getattr(errors, name), errors.CustrecError)


def test_the_contract_names_are_the_objects_under_their_current_names() -> None:
    from custrec import consent, records
    from custrec.model import records as model_records

    assert consent.Decision is consent.ConsentDecision
    assert all(getattr(records, name) is getattr(model_records, name) for name in records.__all__)
    assert records.__all__ == model_records.__all__

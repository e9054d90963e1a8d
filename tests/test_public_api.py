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
    "custrec.storage": ["Store", "Session"],
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
    "custrec.testing": ["StoreContract", "ArgumentRulesContract", "MetaTableContract"],
    "custrec.serialization": ["make_converter"],
    # issue: duplicates, merging, review, quality
    "custrec.matching": [
        "compare",
        "profile",
        "Decision",
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


def test_the_registry_offers_matching_merging_review_and_quality() -> None:
    from custrec import Registry

    for name in (
        "find_duplicates",
        "find_duplicate_clusters",
        "merge",
        "aliases",
        "approve",
        "reject",
        "verify",
        "verifications",
        "pending_review",
        "quality_report",
    ):
        assert callable(getattr(Registry, name))


@pytest.mark.parametrize("module", sorted(PROMISED))
def test_promised_names_exist(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in PROMISED[module] if not hasattr(imported, name)]
    assert missing == []


def test_errors_share_one_base() -> None:
    from custrec import errors

    for name in PROMISED["custrec.errors"]:
        assert issubclass(getattr(errors, name), errors.CustrecError)

"""Workflow: lifecycle rules, service cases with response-time targets, tasks that come due.

Pure domain logic: record types (:class:`Case`, :class:`Task`), the moves a case may make,
response-time policies over a business calendar (:mod:`custrec.workflow.calendar`,
:mod:`custrec.workflow.sla`), lifecycle rules (:mod:`custrec.workflow.rules`), recurring tasks
and analytics. The registry's ``cases``, ``tasks``, ``workflow`` and ``changes`` services store
and run them; ``docs/workflow.md`` explains them with a worked example.
"""

from custrec.workflow.analytics import CaseFacts, CaseStats, case_facts, case_stats
from custrec.workflow.calendar import BusinessCalendar, CalendarTime, Window, WorkingTime
from custrec.workflow.cases import (
    CASE_TRANSITIONS,
    OPEN_CASE_STATUSES,
    Case,
    CaseEscalation,
    CaseKind,
    CasePriority,
    CaseStatus,
    CaseTransition,
    case_pauses,
)
from custrec.workflow.items import WorkItem, WorkPage
from custrec.workflow.recurring import RecurringTask, occurrence_id
from custrec.workflow.rules import (
    DEFAULT_RULES,
    Applied,
    ComplaintOpensCase,
    ContractSigned,
    DormantAfter,
    FirstPayment,
    LastContacted,
    LifecycleEvent,
    LifecycleRule,
    NextFollowUp,
    Reaction,
    RuleOutcome,
    SatisfactionFromCase,
    in_zone,
    run_rules,
)
from custrec.workflow.settings import WorkflowSettings
from custrec.workflow.sla import (
    Deadline,
    Pause,
    SlaPolicy,
    SlaRule,
    SlaStatus,
    SlaTarget,
    escalations_due,
    next_due,
    sla_status,
)
from custrec.workflow.tasks import OPEN_TASK_STATUSES, Task, TaskKind, TaskStatus

__all__ = [
    "CASE_TRANSITIONS",
    "DEFAULT_RULES",
    "OPEN_CASE_STATUSES",
    "OPEN_TASK_STATUSES",
    "Applied",
    "BusinessCalendar",
    "CalendarTime",
    "Case",
    "CaseEscalation",
    "CaseFacts",
    "CaseKind",
    "CasePriority",
    "CaseStats",
    "CaseStatus",
    "CaseTransition",
    "ComplaintOpensCase",
    "ContractSigned",
    "Deadline",
    "DormantAfter",
    "FirstPayment",
    "LastContacted",
    "LifecycleEvent",
    "LifecycleRule",
    "NextFollowUp",
    "Pause",
    "Reaction",
    "RecurringTask",
    "RuleOutcome",
    "SatisfactionFromCase",
    "SlaPolicy",
    "SlaRule",
    "SlaStatus",
    "SlaTarget",
    "Task",
    "TaskKind",
    "TaskStatus",
    "Window",
    "WorkItem",
    "WorkPage",
    "WorkflowSettings",
    "WorkingTime",
    "case_facts",
    "case_pauses",
    "case_stats",
    "escalations_due",
    "in_zone",
    "next_due",
    "occurrence_id",
    "run_rules",
    "sla_status",
]

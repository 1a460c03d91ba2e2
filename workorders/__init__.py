"""Work orders (R12) without I/O: what a disposition must hold per business kind, the
rules that choose the responsible department and the due time, the order's status
machine and its overdue check. ``cti.workorders`` stores them and talks to the world."""

from workorders.model import (
    FIELDS, STATUSES, URGENCIES, BadDisposition, BadTransition, Department, Kind, Rule, Rules,
    WorkOrder, check_disposition, is_open, overdue,
)

__all__ = [
    "FIELDS", "STATUSES", "URGENCIES", "BadDisposition", "BadTransition", "Department", "Kind", "Rule",
    "Rules", "WorkOrder", "check_disposition", "is_open", "overdue",
]

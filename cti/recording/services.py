"""The recording use cases (R4/R5), once, for the HTTP API and the command line:
search, fetch (SHA-256 checked), completeness audit, legal holds, purge. Each one is
written to the archive's audit log with who asked."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from cti.masking import letters_id
from cti.recording.calllog import CallLog
from cti.recording.recorder import audit_archive
from cti.recording.settings import RecordingConfig
from recording.archive import Archive, RecordingError, RecordingMeta
from recording.completeness import Report
from recording.retention import LegalHold


class BadHold(RecordingError):
    """A legal hold that names no scope, or a half date range."""


def search(archive: Archive, who: str, since: float | None = None, until: float | None = None,
           caller: str | None = None, agent_id: str | None = None, queue: str | None = None,
           kind: str | None = None) -> list[RecordingMeta]:
    found = archive.search(since=since, until=until, caller=caller, agent_id=agent_id, queue=queue, kind=kind)
    query = {k: v for k, v in (("since", since), ("until", until), ("caller", caller), ("agent", agent_id),
                               ("queue", queue), ("kind", kind)) if v is not None}
    archive.audit.record(who, "list", query=query, results=len(found))
    return found


def fetch(archive: Archive, call_id: str, who: str) -> bytes:
    """The recording's bytes; ``IntegrityError`` if its SHA-256 no longer matches."""
    return archive.open_verified(call_id, who)


def completeness(archive: Archive, calls: CallLog, config: RecordingConfig, who: str,
                 since: float = 0.0, until: float | None = None) -> Report:
    report = audit_archive(archive, calls, config.tolerance_s, since, time.time() if until is None else until)
    archive.audit.record(who, "audit", coverage=report.coverage)
    return report


def place_hold(archive: Archive, who: str, reason: str, call_id: str | None = None,
               caller: str | None = None, start: str | None = None, end: str | None = None,
               known: Callable[[str], bool] | None = None) -> LegalHold:
    """A legal hold by call, by caller, or by a date range (ISO 8601 with a time zone).
    ``known``: whether a call id is one of ours (a hold on a mistyped id holds nothing)."""
    if not reason.strip() or not (call_id or caller or start or end):
        raise BadHold("a hold needs a reason and a call_id, caller, or start and end")
    if call_id is not None and known is not None and not known(call_id):
        raise BadHold(f"no call {call_id!r} is known to the archive or the call log")
    if caller is not None:
        number = re.sub(r"[\s().-]", "", caller)
        if not re.fullmatch(r"\+?\d{3,20}", number):
            raise BadHold("caller must be a phone number (digits, optionally a leading +)")
        caller = number
    if (start is None) != (end is None):
        raise BadHold("a date range needs both start and end")
    try:
        first = datetime.fromisoformat(start) if start is not None else None
        last = datetime.fromisoformat(end) if end is not None else None
    except ValueError:
        raise BadHold("start and end are ISO 8601 timestamps") from None
    for name, moment in (("start", first), ("end", last)):
        if moment is not None and moment.tzinfo is None:
            # A plain date or a time without offset is ambiguous by up to a day.
            raise BadHold(f"{name} needs a time zone, for example 2024-01-01T00:00:00+08:00")
    if first is not None and last is not None and first >= last:
        raise BadHold("start must be before end")
    hold = LegalHold(letters_id("hold-", 12), reason.strip(), who, datetime.now(timezone.utc),
                     call_id=call_id, caller=caller, start=first, end=last)
    archive.add_hold(hold)
    return hold


def release_hold(archive: Archive, hold_id: str, who: str) -> None:
    archive.release_hold(hold_id, who, datetime.now(timezone.utc))


def purge(archive: Archive, config: RecordingConfig, who: str, dry_run: bool = False,
          calls: CallLog | None = None) -> list[str]:
    """R5: recordings (and, given ``calls``, call rows) past retention in the site's
    time zone, not under hold."""
    now, zone = datetime.now(timezone.utc), ZoneInfo(config.timezone)
    gone = archive.purge(now, config.retention_months, who, dry_run=dry_run, zone=zone)
    if calls is not None and not dry_run:
        calls.purge(archive.holds(), now, config.retention_months, zone)
    return gone


def report_json(report: Report) -> dict[str, Any]:
    return {
        "answered": report.answered, "ok": report.ok, "coverage": report.coverage,
        "findings": [{"call_id": f.call_id, "problem": f.problem, "detail": f.detail} for f in report.findings],
    }

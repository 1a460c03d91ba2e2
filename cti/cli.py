"""``cti``: the command line. The one place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from cti import audit as audit_mod
from cti import config as config_mod
from cti.app import serve
from cti.web.accounts import AuthSettings, hash_secret, token_digest
from cti.errors import AsteriskUnreachable, ConfigError, CtiError
from cti.masking import MaskingFormatter
from cti.recording import services
from cti.recording.calllog import CallLog
from recording.archive import Archive, RecordingError

EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_ERROR = 1
# Errors -> (exit code, what the message starts with): the CLI's one such table, most specific first.
EXITS: tuple[tuple[type[Exception], int, str], ...] = (
    (ConfigError, EXIT_CONFIG, "config error: "),
    (AsteriskUnreachable, EXIT_UNREACHABLE, ""),
    (CtiError, EXIT_ERROR, ""),
    (RecordingError, EXIT_ERROR, ""),
)
T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """The engine's event loop: uvloop (libuv's loop, a drop-in for asyncio's). Its
    sockets, timers and callbacks run in C: about a sixth less CPU per call than the
    standard loop in the load benchmark, and a shorter hand-off (docs/BENCHMARKS.md)."""
    return uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o027)  # R14: what the engine and the CLI create is not world-readable
    parser = argparse.ArgumentParser(prog="cti", description="Contact-center engine on Asterisk")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the engine")
    run.add_argument("--config", required=True, help="TOML configuration file")
    run.add_argument("--http-port", type=int, help="override http.port")
    run.add_argument("--log-level", help="override log_level")
    rec = sub.add_parser("recordings", help="R4/R5: audit, purge, list, fetch, legal holds")
    rec.add_argument("--config", required=True, help="TOML configuration file")
    rec.add_argument("--as", dest="who", default=os.environ.get("USER", "cli"),
                     help="who is acting (for the audit log)")
    rsub = rec.add_subparsers(dest="action", required=True)
    purge = rsub.add_parser("purge", help="delete recordings past retention (not under hold)")
    purge.add_argument("--dry-run", action="store_true", help="only list what would go")
    rsub.add_parser("audit", help="match answered calls with recordings; exit 1 below 100 %%")
    lst = rsub.add_parser("list", help="search the archive")
    for name in ("caller", "agent", "queue", "kind"):
        lst.add_argument(f"--{name}")
    lst.add_argument("--since", type=float, help="epoch seconds")
    lst.add_argument("--until", type=float, help="epoch seconds")
    get = rsub.add_parser("get", help="fetch one recording (its SHA-256 is checked)")
    get.add_argument("call_id")
    get.add_argument("-o", "--output", required=True)
    hold = rsub.add_parser("hold", help="place a legal hold")
    hold.add_argument("--reason", required=True)
    scope = hold.add_mutually_exclusive_group(required=True)
    scope.add_argument("--call")
    scope.add_argument("--caller")
    scope.add_argument("--between", nargs=2, metavar=("START", "END"), help="ISO dates")
    release = rsub.add_parser("release", help="release a legal hold")
    release.add_argument("hold_id")
    rsub.add_parser("verify-audit", help="R5/R14: the same as `cti audit verify`")
    aud = sub.add_parser("audit", help="R14: the one audit log of accesses to customers' data")
    aud.add_argument("--config", required=True)
    asub = aud.add_subparsers(dest="action", required=True)
    asub.add_parser("verify", help="check every line's keyed MAC, the chain and the anchor; exit 1 at the first "
                                   "bad line")
    pw = sub.add_parser("passwd", help="R14: read a PIN or password on standard input, print its argon2 hash "
                                       "(for [[agents]] pin_hash or [[auth.accounts]] password_hash)")
    pw.add_argument("--min-length", type=int, default=AuthSettings().min_pin_length,
                    help="refuse shorter secrets (default %(default)s, as [auth] min_pin_length; at least 4)")
    sub.add_parser("token", help="R14: make an API token; prints the token (give it to the service) and "
                                 "its SHA-256 (for [[auth.tokens]] sha256)")
    camp = sub.add_parser("campaign", help="R11: import a CSV list of customers as a campaign (number[,name] per line)")
    camp.add_argument("--config", required=True)
    camp.add_argument("--name", required=True)
    camp.add_argument("--queue", required=True)
    camp.add_argument("--script", default="", help="what the agent says (shown on the desk)")
    camp.add_argument("--max-attempts", type=int, default=3)
    camp.add_argument("--retry-h", type=float, default=4.0)
    camp.add_argument("csv", help="the CSV file")
    rep = sub.add_parser("report", help="R13: a report from the engine's record, on standard output")
    rep.add_argument("what", choices=["queues", "agents", "satisfaction", "appraisal", "queue_log"],
                     help="queues, agents or satisfaction (R17): figures per period; appraisal: per agent over the "
                     "days, with satisfaction (R17) and quality (R18); queue_log: Asterisk's format (numbers masked)")
    rep.add_argument("--config", required=True)
    for name, text in (("from", "first day, YYYY-MM-DD (site time zone; default today)"), ("to", "last day"),
                       ("interval", "15m, hour, day (default), week, month"),
                       ("by", "queue (default), kind, all; satisfaction also agent, department, source"),
                       ("source", "satisfaction: call or visit (default both)"),
                       ("weekdays", "only these days: mon,tue,..."), ("between", "only this time of day: 08:00-12:00")):
        rep.add_argument(f"--{name}", dest=f"q_{name}", help=text)
    rep.add_argument("--format", choices=["csv", "json"], default="csv")
    args = parser.parse_args(argv)
    if args.command in ("passwd", "token"):
        return secrets_command(args.command, getattr(args, "min_length", AuthSettings().min_pin_length))
    commands = {"campaign": campaign_command, "report": report_command, "recordings": recordings_command,
                "audit": audit_command}
    try:
        if args.command == "run":
            return run_command(args)
        return commands[args.command](config_mod.load(args.config), args)
    except (CtiError, RecordingError) as exc:
        for kind, code, prefix in EXITS:
            if isinstance(exc, kind):
                print(f"cti: {prefix}{exc}", file=sys.stderr)
                return code
        raise


def run_command(args: argparse.Namespace) -> int:
    overrides: dict[tuple[str, str], Any] = {}
    if args.http_port is not None:
        overrides[("http", "port")] = args.http_port
    if args.log_level is not None:
        overrides[("", "log_level")] = args.log_level
    cfg = config_mod.load(args.config, overrides=overrides)
    _setup_logging(cfg.log_level)
    return run_until_done(serve(cfg))


def run_until_done(main: Coroutine[Any, Any, Any]) -> int:
    """Run the engine; 0 when it stopped (a signal), 3 when another router took over
    (``Fenced``: this one stopped acting at once; a supervisor starts it again, and it
    waits as a standby): one line in the log, not a traceback."""
    from cti.journal.store import Fenced

    fenced: BaseException | None = None
    try:
        try:
            run_loop(main)
        except* Fenced as group:
            fenced = group.exceptions[0]
    except KeyboardInterrupt:
        pass
    if fenced is not None:
        logging.getLogger("cti.durability").error(
            "another router leads now (%s): exiting; started again, this engine waits as a standby", fenced)
        return 3
    return 0


def campaign_command(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    """Writes the campaign into the engine's store; the running engine takes it up
    within ten seconds."""
    from cti.store.sql import StoreUnavailable
    from cti.leader import database
    from cti.orders.store import WorkOrderStore
    from cti.outbound.visits import campaign_from_csv

    if args.queue not in {q.name for q in cfg.queues}:
        print(f"cti: no queue {args.queue!r} in {args.config}", file=sys.stderr)
        return EXIT_ERROR
    try:
        text = open(args.csv, encoding="utf-8-sig").read()
        campaign, entries, refused = campaign_from_csv(args.name, args.queue, text, time.time(), args.script, None,
                                                       args.max_attempts, args.retry_h * 3600)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return EXIT_ERROR

    async def store() -> None:
        db = database(cfg)
        try:
            await WorkOrderStore(db).add_campaign(campaign, entries)
        finally:
            await db.aclose()
    try:
        asyncio.run(store())
    except StoreUnavailable as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"campaign {campaign['campaign_id']}: {len(entries)} customers"
          + (f"; lines refused (not a number): {', '.join(map(str, refused[:20]))}" if refused else ""))
    return 0


def report_command(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    """Reads the record in the engine's store (the engine may be running)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cti.store.sql import StoreUnavailable
    from cti.reports.store import HistoryStore
    from cti.leader import database
    from cti.masking import mask_number
    from reports.agents import agent_report, flat
    from reports.intervals import report
    from reports.query import parse_query, to_csv
    from reports.queue_log import queue_log
    from reports.satisfaction import parse_satisfaction, satisfaction_report
    from cti.quality.store import read_scored
    from cti.reports.builder import appraisal_rows

    params = {k.removeprefix("q_"): v for k, v in vars(args).items() if k.startswith("q_") and v is not None}
    key, source = "", ""
    try:
        today = datetime.now(ZoneInfo(cfg.timezone)).date()
        if args.what == "satisfaction":
            query, key, source = parse_satisfaction(params, cfg.timezone, today)
        elif "source" in params:
            raise ValueError("--source is for the satisfaction report")
        else:
            query = parse_query(params, cfg.timezone, today)
    except ValueError as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return EXIT_ERROR

    async def read() -> str:
        db = database(cfg)
        store = HistoryStore(db)
        try:
            if args.what == "queue_log":  # R14: no signed-in identity here: numbers masked
                calls = await store.calls_between(query.since, query.until)
                spans = await store.spans_between(query.since, query.until)
                return queue_log(calls, spans, {a.agent.agent_id: a.agent.queues for a in cfg.agents}, mask_number)
            if args.what == "agents":
                times, sums = await store.agent_buckets(query.since, query.until)
                rows = agent_report(times, sums, query.interval, cfg.timezone, query.where)
                if args.format == "csv":
                    rows = flat(rows)
            elif args.what == "appraisal":  # R13 with R17 and R18
                times, sums = await store.agent_buckets(query.since, query.until)
                rows = appraisal_rows(times, sums, await store.surveys_between(query.since, query.until, False),
                                      await db.read(lambda sql: read_scored(sql, query.since, query.until)),
                                      cfg.timezone, query.where)
            elif args.what == "satisfaction":  # R17
                rows = satisfaction_report([s for s in await store.surveys_between(query.since, query.until)
                                            if source in ("", s.source)], query.interval, cfg.timezone, key,
                                           query.where)
            else:
                rows = report(await store.buckets(query.since, query.until, query.by), query.interval, cfg.timezone,
                              query.by, query.where)
        finally:
            await db.aclose()
        return to_csv(rows) if args.format == "csv" else json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    try:
        text = asyncio.run(read())
        audit_mod.open_log(cfg.audit).record(getpass.getuser(), "report-export", what=args.what,
                                             first=str(query.first), last=str(query.last), format=args.format)
        sys.stdout.write(text)
    except StoreUnavailable as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def secrets_command(command: str, min_length: int = AuthSettings().min_pin_length) -> int:
    if command == "token":
        token = secrets.token_urlsafe(32)
        print(f"token:  {token}\nsha256: {token_digest(token)}")
        return 0
    secret = getpass.getpass("PIN or password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(secret) < max(4, min_length):
        print(f"cti: a PIN or password has {max(4, min_length)} characters or more "
              "(the engine refuses shorter ones: [auth] min_pin_length)", file=sys.stderr)
        return EXIT_ERROR
    print(hash_secret(secret))
    return 0


def audit_command(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    """``cti audit verify``: the whole chain of ``[audit] log`` with ``[audit] key_file``."""
    verdict = audit_mod.open_log(cfg.audit, create_key=False).verify()
    if verdict.ok:
        print(f"audit log intact: {verdict.lines} lines ({cfg.audit.log})")
        return 0
    print(f"audit log broken at line {verdict.first_bad}: {verdict.reason} ({cfg.audit.log})")
    return 1


def recordings_command(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    if cfg.recording is None:
        print("cti: no [recording] table in the configuration", file=sys.stderr)
        return EXIT_CONFIG
    rc = cfg.recording
    if args.action == "verify-audit":
        return audit_command(cfg, args)
    archive = Archive(rc.archive_dir, audit_mod.open_log(cfg.audit))  # R14: the one keyed audit log
    if args.action == "purge":
        gone = services.purge(archive, rc, args.who, dry_run=args.dry_run,
                              calls=CallLog(rc.archive_dir / "calls.sqlite"))
        verb = "would delete" if args.dry_run else "deleted"
        print(f"{verb} {len(gone)} recording(s)" + "".join(f"\n  {k}" for k in gone))
        return 0
    if args.action == "audit":
        report = services.completeness(archive, CallLog(rc.archive_dir / "calls.sqlite"), rc, args.who)
        print(f"recording coverage {report.coverage:.4f}: {report.ok} of {report.answered} answered calls")
        for f in report.findings:
            print(f"  {f.call_id}: {f.problem} ({f.detail})")
        bad = archive.verify_all()
        for call_id in bad:
            print(f"  {call_id}: integrity (SHA-256 mismatch)")
        return 0 if report.coverage == 1.0 and not bad else 1
    if args.action == "list":
        found = services.search(archive, args.who, args.since, args.until, args.caller, args.agent,
                                args.queue, args.kind)
        for m in found:
            print(json.dumps(dataclasses.asdict(m), sort_keys=True))
        return 0
    if args.action == "get":
        Path(args.output).write_bytes(services.fetch(archive, args.call_id, args.who))
        return 0
    if args.action == "hold":
        start, end = args.between or (None, None)
        calls = CallLog(rc.archive_dir / "calls.sqlite")
        hold = services.place_hold(archive, args.who, args.reason, args.call, args.caller, start, end,
                                   lambda k: calls.has(k) or archive.get(k, missing_ok=True) is not None)
        print(hold.hold_id)
        return 0
    services.release_hold(archive, args.hold_id, args.who)
    return 0


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())

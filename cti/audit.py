"""R14/R5: the one audit log of every access to customers' data.

Listening in, ``/state`` reads, full numbers shown, queue_log and report exports,
sign-ins and refusals (what the engine tells the ``cti.audit`` logger) and every
recordings access, hold, release and deletion (the archive's own lines) go to one
file, ``[audit] log``, each line chained to the one before by a keyed MAC
(HMAC-SHA256, ``recording.audit``) whose key is ``[audit] key_file``: a file outside
the log's directory (the start refuses one inside it), created with 32 random bytes
at the first start when missing. Lines are JSON: a newline or a control character in
a message (a request path with ``%0A``) is escaped and cannot start a line of its own.
``cti audit verify --config F`` checks the whole chain and names the first bad line.

The engine's lines are written by one thread of their own (a logging queue), never
on the event loop; the archive's lines are written, flushed and fsynced by the
recording worker before the action they record is reported done.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import queue
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cti.configreader import Table
from cti.errors import ConfigError, CtiError
from cti.masking import mask_text
from recording.audit import AuditLog

LOGGER = "cti.audit"
DEFAULT_LOG = "var/audit/audit.log"
DEFAULT_KEY = "var/audit.key"  # outside the log's directory


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """``[audit]``: ``log`` (the file) and ``key_file`` (the MAC key, outside the
    log's directory)."""

    log: Path = Path(DEFAULT_LOG)
    key_file: Path = Path(DEFAULT_KEY)


def parse_audit(t: Table) -> AuditSettings:
    settings = AuditSettings(Path(t.text("log", DEFAULT_LOG)), Path(t.text("key_file", DEFAULT_KEY)))
    t.check_unknown()
    log_dir = settings.log.parent.resolve()
    key = settings.key_file.resolve()
    if key.parent == log_dir or log_dir in key.parents:
        raise ConfigError(f"{t.path}.key_file", "a file outside the audit log's directory", str(settings.key_file))
    return settings


def load_key(path: Path, create: bool = True) -> bytes:
    """The MAC key (hex text in ``path``); made (mode 0600) at the first start when
    ``create``: keep a copy away from this machine to check the log elsewhere."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            raise CtiError(f"no audit key at {path} ([audit] key_file)") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        text = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise CtiError(f"cannot read the audit key {path}: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise CtiError(f"the audit key {path} is not hex text") from None
    if len(key) < 32:
        raise CtiError(f"the audit key {path} is shorter than 32 bytes")
    return key


def open_log(settings: AuditSettings, create_key: bool = True) -> AuditLog:
    return AuditLog(settings.log, load_key(settings.key_file, create_key))


class AuditHandler(logging.Handler):
    """Writes each record of the ``cti.audit`` logger as one chained line (numbers in
    the text masked; JSON escapes every control character)."""

    def __init__(self, log: AuditLog) -> None:
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.record("engine", record.levelname.lower(), message=mask_text(record.getMessage()),
                            logger=record.name)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def trail(log: AuditLog) -> Iterator[AuditLog]:
    """While the block runs, the ``cti.audit`` logger's records go to ``log`` through a
    thread of their own (the event loop never waits for the file's fsync)."""
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.handlers.QueueHandler(lines)
    listener = logging.handlers.QueueListener(lines, AuditHandler(log))
    logger = logging.getLogger(LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)  # every access, whatever the engine's log_level
    listener.start()
    logger.addHandler(handler)
    try:
        yield log
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        listener.stop()  # what was queued is written first

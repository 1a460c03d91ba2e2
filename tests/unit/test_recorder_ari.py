"""R4 without AMI (issue 28, item 8): the recorder starts a recording with an ARI snoop
channel spying both directions of the caller's channel, and records the snoop (ARI)
once it has entered the application, under Asterisk's recording directory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cti.config import load
from cti.errors import AriError, ConfigError
from cti.recording.recorder import Recorder
from cti.recording.settings import RecordingConfig


class FakeAri:
    app = "cti"

    def __init__(self, refuse: str = "") -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.refuse = refuse

    async def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        self.sent.append((method, path, params))
        if self.refuse and path.endswith(self.refuse):
            raise AriError(method, path, 404, "Channel not found")
        return {}

    async def request_quiet(self, method: str, path: str, **params: Any) -> None:
        self.sent.append((method, path, params))


def recorder(tmp_path: Path, ari: FakeAri) -> Recorder:
    config = RecordingConfig(tmp_path / "spool", "/var/spool/asterisk/recording/cti", tmp_path / "archive")
    return Recorder(config, ari)  # type: ignore[arg-type]


async def run_then(steps: list[Callable[[], Awaitable[None]]]) -> None:
    for step in steps:
        await step()


async def test_R4_a_recording_is_a_snoop_on_the_callers_channel_recorded_by_ari(tmp_path: Path) -> None:
    ari = FakeAri()
    rec = recorder(tmp_path, ari)
    await rec.start("call-1", "13812345678", "call-1")
    assert ari.sent == [("POST", "/channels/call-1/snoop", {
        "spy": "both", "whisper": "none", "app": "cti", "appArgs": "record", "snoopId": "cti-rec-call-1"})]
    steps: list[Callable[[], Awaitable[None]]] = []
    assert not rec.on_event({"type": "StasisStart", "channel": {"id": "call-1"}}, lambda *a: steps.append(a[2]))
    assert rec.on_event({"type": "StasisStart", "channel": {"id": "cti-rec-call-1"}, "args": ["record"]},
                        lambda *a: steps.append(a[2]))
    await run_then(steps)
    method, path, params = ari.sent[-1]
    assert (method, path) == ("POST", "/channels/cti-rec-call-1/record")
    assert params["name"] == "cti/call-1" and params["format"] == "wav" and params["terminateOn"] == "none"
    assert params["maxDurationSeconds"] == 0 and params["maxSilenceSeconds"] == 0
    assert rec.on_event({"type": "StasisEnd", "channel": {"id": "cti-rec-call-1"}}, lambda *a: None)
    await asyncio.sleep(0.05)
    assert await rec.io(lambda: rec.log.to_archive() == [] and rec.log.has("call-1"))


@pytest.mark.parametrize("refused", ["/snoop", "/record"])
async def test_R4_a_recording_that_cannot_start_is_marked_failed(tmp_path: Path, refused: str) -> None:
    ari = FakeAri(refuse=refused)
    rec = recorder(tmp_path, ari)
    await rec.start("call-2", "100", "call-2")
    steps: list[Callable[[], Awaitable[None]]] = []
    rec.on_event({"type": "StasisStart", "channel": {"id": "cti-rec-call-2"}}, lambda *a: steps.append(a[2]))
    await run_then(steps)
    rec.channel_gone("call-2", 1.0)
    await asyncio.sleep(0.05)
    status = await rec.io(lambda: rec.log._db.execute(
        "SELECT recording FROM calls WHERE call_id = 'call-2'").fetchone()[0])
    assert status == "failed"
    if refused == "/record":  # the idle snoop is hung up
        assert ("DELETE", "/channels/cti-rec-call-2", {}) in ari.sent


def test_R4_the_spool_must_be_under_asterisks_recording_directory() -> None:
    sandbox = Path(__file__).resolve().parents[2] / "config" / "sandbox.toml"
    assert load(sandbox, environ={}).recording is not None  # as shipped: accepted
    with pytest.raises(ConfigError, match="asterisk_spool_dir"):
        load(sandbox, environ={}, overrides={("recording", "asterisk_spool_dir"): "/var/spool/asterisk/monitor/cti"})


async def test_R4_after_a_restart_a_snoop_not_yet_recorded_is_recorded(tmp_path: Path) -> None:
    """The engine stopped between making the snoop and recording it: the resync
    records every recording snoop, refusing to overwrite; one already recording (ARI
    answers 409) is left as it is, not hung up."""
    ari = FakeAri()
    rec = recorder(tmp_path, ari)
    steps: list[Callable[[], Awaitable[None]]] = []
    rec.recover({"call-3": {}, "cti-rec-call-3": {}, "cti-snoop-call-4-1": {}}, lambda *a: steps.append(a[2]))
    await run_then(steps)
    assert [(m, p, params["ifExists"]) for m, p, params in ari.sent] == [
        ("POST", "/channels/cti-rec-call-3/record", "fail")]

    class Busy(FakeAri):
        async def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
            self.sent.append((method, path, params))
            raise AriError(method, path, 409, "Recording already in progress")

    busy = Busy()
    rec = recorder(tmp_path / "b", busy)
    steps = []
    rec.recover({"cti-rec-call-5": {}}, lambda *a: steps.append(a[2]))
    await run_then(steps)
    assert [p for _, p, _ in busy.sent] == ["/channels/cti-rec-call-5/record"]  # no DELETE


async def test_R4_calls_answered_while_the_call_log_is_full_are_kept_and_written_once_it_has_room(
        tmp_path: Path) -> None:
    """Found while adding the soak's full-disk fault (issue 33): the call log lives
    beside the archive, and a write it refused (``database or disk is full``) was
    logged and dropped: a call answered while the disk was full was never in the log,
    so its recording was never archived and the completeness audit never missed it.
    Now the writes are kept, in order, and written once there is room (real SQLite,
    its size capped as a full disk would: SQLITE_FULL)."""
    rec = recorder(tmp_path, FakeAri())
    db = rec.log._db  # (the test caps the call log's own connection)
    pages = await rec.io(lambda: db.execute("PRAGMA page_count").fetchone()[0])
    await rec.io(lambda: db.execute(f"PRAGMA max_page_count = {pages}"))
    for n in range(40):  # more than fits in the pages it has
        await rec.start(f"full-{n}", "13812345678" + "0" * 200, None)
    await rec.io(lambda: None)  # (the worker has tried)
    await asyncio.sleep(0.05)
    assert rec.maintenance_errors.get("the call log", 0) >= 1
    assert not await rec.io(lambda: all(rec.log.has(f"full-{n}") for n in range(40)))  # (refused: no room)
    await rec.io(lambda: db.execute("PRAGMA max_page_count = 1073741823"))  # room again
    runner = asyncio.create_task(rec.run())  # (its loop tries the kept writes again)
    try:
        for _ in range(50):
            await asyncio.sleep(0.1)
            if await rec.io(lambda: all(rec.log.has(f"full-{n}") for n in range(40))):
                break
        assert await rec.io(lambda: all(rec.log.has(f"full-{n}") for n in range(40)))
    finally:
        runner.cancel()

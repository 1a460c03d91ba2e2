"""Malformed or unexpected ARI/AMI messages: logged, skipped, nothing lost, and the
next good message still goes through (issue 4's corpus of bad frames)."""

from __future__ import annotations

import asyncio
import collections
import json
import logging

import pytest
from panoramisk.ami_protocol import AMIProtocol

from acd import events as e
from cti.asterisk.ami import _Manager
from cti.asterisk.ari import AriClient
from cti.calls.stasis import StasisAdapter

ARI_CORPUS = [
    "",
    "not json at all",
    "{\"type\": ",
    "[1, 2, 3]",
    "null",
    "42",
    json.dumps({"no": "type"}),
    json.dumps({"type": 7}),
    json.dumps({"type": "StasisStart"}),
    json.dumps({"type": "StasisStart", "channel": "a string"}),
    json.dumps({"type": "StasisStart", "channel": {"id": 12}}),
    json.dumps({"type": "StasisStart", "channel": {"id": "x"}, "args": "inbound"}),
    json.dumps({"type": "StasisStart", "channel": {"id": "x2", "caller": None}, "args": ["inbound", 5]}),
    json.dumps({"type": "StasisStart", "channel": {"id": "x3"}, "args": ["offer", "nope", "nobody"]}),
    json.dumps({"type": "StasisStart", "channel": {"id": "x4"}, "args": ["weird"]}),
    json.dumps({"type": "ChannelDestroyed", "channel": {"id": "unknown"}, "cause": "sixteen"}),
    json.dumps({"type": "ChannelHold", "channel": {"id": "unknown"}}),
    json.dumps({"type": "PlaybackFinished", "playback": None}),
    json.dumps({"type": "PlaybackFinished", "playback": {"id": 5}}),
    json.dumps({"type": "SomethingNew", "channel": {"id": "y"}}),
    "\x00\xff\xfe" * 100,
    json.dumps({"type": "StasisStart", "channel": {"id": "z" * 100_000}, "args": []}),
]


def make_adapter(submitted: list[e.Event]) -> StasisAdapter:
    return StasisAdapter(None, submitted.append, lambda: 100.0, calls=None)  # type: ignore[arg-type]


def test_ari_bad_frames_are_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    submitted: list[e.Event] = []
    adapter = make_adapter(submitted)
    client = AriClient(None, "http://127.0.0.1:1", "u", "p", "cti")  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        for frame in ARI_CORPUS:
            client._deliver(frame, adapter.on_event)
    # Each frame that did not decode is counted (cti_faults_total{kind="poison"}).
    assert client.faults.counts[("poison", "ari frame")] >= 8
    assert "not JSON" in caplog.text and "no event type" in caplog.text
    # What was malformed produced nothing the core would misread...
    assert all(isinstance(ev, e.CallEntered) for ev in submitted)
    # ...and a good frame still goes through afterwards.
    good = {"type": "StasisStart", "channel": {"id": "good.1", "caller": {"number": "13800000000"}},
            "args": ["inbound", "200"]}
    client._deliver(json.dumps(good), adapter.on_event)
    assert submitted[-1] == e.CallEntered("good.1", "13800000000", "200", 100.0)


def test_ami_bad_frames_do_not_break_the_connection() -> None:
    seen: list[str] = []
    loop = asyncio.new_event_loop()
    try:
        manager = _Manager(asyncio.Event(), loop=loop, username="u", secret="s")
        manager.register_event("FullyBooted", lambda m, ev: seen.append(ev.event))

        def explode(m: object, ev: object) -> None:
            raise RuntimeError("a handler bug")

        manager.register_event("Boom", explode)
        proto = AMIProtocol()
        proto.connection_made(asyncio.Transport())  # parser state only; nothing is sent
        proto.factory = manager
        proto.queue = collections.deque()
        proto.responses = {}
        proto.log = logging.getLogger("test.ami")
        frames = [
            b"Asterisk Call Manager/11.0.0\r\n",
            b"garbage without any colon\r\n\r\n",
            b"\x00\xff\xfe\xfd\r\n\r\n",
            b"Event: Boom\r\nData: x\r\n\r\n",
            b"Response: Success\r\nActionID: nobody-asked\r\n\r\n",
            b"Event: Half\r\nKey: val",  # a frame cut in two ...
            b"ue\r\n\r\n",  # ... completed later
            b"Key" * 50_000 + b": v\r\n\r\n",
            b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n",
        ]
        for frame in frames:
            proto.data_received(frame)
        assert seen == ["FullyBooted"]
    finally:
        loop.close()

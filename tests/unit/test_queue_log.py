"""R13: the queue_log export read back by an independent reader written from
Asterisk's documented format (docs.asterisk.org, Operation / Logging / Queue Logs):
``UNIX time|unique id|queue|member|event|parameters...``, with the parameters of
each event as documented. The reader knows nothing of the engine."""

from __future__ import annotations

from dataclasses import dataclass

from reports.queue_log import queue_log
from reports.records import AgentSpan, CallRecord, Offer

PARAMS = {  # event -> its documented parameters
    "ENTERQUEUE": ("url", "callerid"), "CONNECT": ("holdtime", "bridgedchanneluniqueid", "ringtime"),
    "COMPLETEAGENT": ("holdtime", "calltime", "origposition"), "COMPLETECALLER": ("holdtime", "calltime", "origposition"),
    "ABANDON": ("position", "origposition", "waittime"), "RINGNOANSWER": ("ringtime",),
    "EXITWITHTIMEOUT": ("position", "origposition", "waittime"), "PAUSE": ("reason",), "UNPAUSE": ("reason",),
    "ADDMEMBER": ("",), "REMOVEMEMBER": ("",),
    "TRANSFER": ("extension", "context", "holdtime", "calltime", "origposition"),
}


@dataclass(frozen=True)
class Entry:
    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: dict[str, str]


def read_queue_log(text: str) -> list[Entry]:
    entries = []
    for line in text.splitlines():
        fields = line.split("|")
        assert len(fields) >= 5, line
        event = fields[4]
        assert event in PARAMS, f"not an event app_queue writes: {line}"
        names = PARAMS[event]
        assert len(fields) - 5 == len(names), f"{event} has {len(names)} parameters: {line}"
        entries.append(Entry(int(fields[0]), fields[1], fields[2], fields[3], event, dict(zip(names, fields[5:]))))
    assert [e.time for e in entries] == sorted(e.time for e in entries), "not in time order"
    return entries


def counts(entries: list[Entry]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in entries:
        out[e.event] = out.get(e.event, 0) + 1
    return out


def test_R13_R14_a_queue_log_a_reader_of_asterisks_format_understands() -> None:
    t = 1_796_169_600.0
    calls = [
        CallRecord("k1", "gas", "13812345678", "leak", False, t, t + 100, "handled", "1001", 12.0, 88.0, 10.0,
                   "caller", 1, 0, ("bill",), False,
                   (Offer("1002", t + 5, 4.0, "no-answer"), Offer("1001", t + 9, 3.0, "answered")), (t + 5,)),
        CallRecord("k2", "gas", "13900000000", "", False, t + 10, t + 40, "abandoned", None, 30.0, 0.0, 0.0,
                   "caller"),
        CallRecord("k3", "gas", "13700000000", "", False, t + 20, t + 70, "handled", "1002", 2.0, 48.0, 0.0, "agent"),
    ]
    spans = [AgentSpan("1001", "not-ready", "lunch", t + 200, t + 300), AgentSpan("1002", "logged-out", None, t, t + 1)]
    text = queue_log(calls, spans, {"1001": ("gas", "bill"), "1002": ("gas",)}, lambda n: n[:3] + "****" + n[-4:])
    entries = read_queue_log(text)
    assert counts(entries) == {"ENTERQUEUE": 4, "EXITWITHTIMEOUT": 1, "RINGNOANSWER": 1, "CONNECT": 2,
                               "COMPLETECALLER": 1, "COMPLETEAGENT": 1, "ABANDON": 1, "PAUSE": 2, "UNPAUSE": 2,
                               "REMOVEMEMBER": 1, "ADDMEMBER": 1}
    k1 = [e for e in entries if e.callid == "k1"]
    assert [(e.event, e.queue) for e in k1] == [("ENTERQUEUE", "bill"), ("EXITWITHTIMEOUT", "bill"),
                                               ("ENTERQUEUE", "gas"), ("RINGNOANSWER", "gas"), ("CONNECT", "gas"),
                                               ("COMPLETECALLER", "gas")]
    assert k1[0].data["callerid"] == "138****5678"  # R14: masked unless the reader may see it
    assert k1[3].agent == "1002" and k1[3].data["ringtime"] == "4000"
    assert k1[4].data == {"holdtime": "12", "bridgedchanneluniqueid": "k1", "ringtime": "3"} and k1[4].agent == "1001"
    assert k1[5].data == {"holdtime": "12", "calltime": "88", "origposition": "1"}
    (abandon,) = [e for e in entries if e.event == "ABANDON"]
    assert abandon.data["waittime"] == "30" and abandon.agent == "NONE"
    assert [e.queue for e in entries if e.event == "PAUSE"] == ["gas", "bill"]
    assert {e.data["reason"] for e in entries if e.event in ("PAUSE", "UNPAUSE")} == {"lunch"}

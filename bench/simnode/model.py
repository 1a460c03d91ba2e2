"""A simulated node's channels and bridges, and the ARI JSON of them and of its events
(the fields Asterisk 22 sends)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

# Q.850 16: normal clearing (a hang-up, from either side or over ARI).
NORMAL = 16
CAUSE_TXT = {16: "Normal Clearing", 17: "User busy", 19: "No user responding"}


def stamp(at: float | None = None) -> str:
    """Asterisk's timestamp: 2026-12-05T18:00:00.123+0000."""
    t = time.time() if at is None else at
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}+0000"


@dataclass(slots=True)
class Channel:
    id: str
    name: str
    caller: str
    exten: str
    endpoint: str  # "PJSIP/agent1001" (an agent's leg) or "" (a caller)
    created: float = field(default_factory=time.time)
    state: str = "Ring"
    in_stasis: bool = False
    bridge: str | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "state": self.state, "protocol_id": "",
            "caller": {"name": "", "number": self.caller},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {"context": "cti-in" if not self.endpoint else "default", "exten": self.exten,
                         "priority": 1, "app_name": "Stasis" if self.in_stasis else "",
                         "app_data": "cti" if self.in_stasis else ""},
            "creationtime": stamp(self.created), "language": "en",
        }


@dataclass(slots=True)
class Bridge:
    id: str
    type: str  # "mixing" or "holding"
    name: str
    channels: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "technology": "simple_bridge" if self.type == "mixing" else "holding_bridge",
                "bridge_type": self.type, "bridge_class": "stasis", "creator": "Stasis", "name": self.name,
                "channels": list(self.channels), "creationtime": stamp(self.created), "video_mode": "talker"}


class Events:
    """The ARI events of one node's application (only those the engine's filter lets through)."""

    def __init__(self, asterisk_id: str, app: str) -> None:
        self.asterisk_id, self.app = asterisk_id, app

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "timestamp": stamp(), **fields, "asterisk_id": self.asterisk_id,
                "application": self.app}

    def stasis_start(self, ch: Channel, args: list[str]) -> dict[str, Any]:
        return self._event("StasisStart", args=args, channel=ch.json())

    def stasis_end(self, ch: Channel) -> dict[str, Any]:
        return self._event("StasisEnd", channel=ch.json())

    def destroyed(self, ch: Channel, cause: int) -> dict[str, Any]:
        return self._event("ChannelDestroyed", cause=cause, cause_txt=CAUSE_TXT.get(cause, "Unknown"),
                           channel=ch.json())

    def device_state(self, name: str, state: str) -> dict[str, Any]:
        return self._event("DeviceStateChanged", device_state={"name": name, "state": state})

    def playback_finished(self, playback: dict[str, Any]) -> dict[str, Any]:
        return self._event("PlaybackFinished", playback={**playback, "state": "done"})


def playback(playback_id: str, media: str, target: str) -> dict[str, Any]:
    return {"id": playback_id, "media_uri": media, "target_uri": target, "language": "en", "state": "playing"}


class Ids:
    """Asterisk's unique ids, with the node's system name in front (as on a cluster's nodes)."""

    def __init__(self, system: str) -> None:
        self._system, self._seq, self._start = system, itertools.count(1), int(time.time())

    def next(self) -> str:
        return f"{self._system}-{self._start}.{next(self._seq)}"

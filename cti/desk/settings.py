"""``[desk]``: the pause codes agents choose from, the safety script an agent reads
to an emergency caller (R8), and how many live streams one identity may hold."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cti.configreader import Table
from cti.errors import ConfigError

SAFETY_SCRIPT = (
    "請立即打開門窗通風；關閉燃氣總閥；不要點火、不要開關電器、不要使用手機或門鈴；"
    "離開現場到安全地點等候搶修人員。"
    " / Open doors and windows now; close the main gas valve; no flames, do not touch any "
    "switch or use a phone or doorbell inside; leave and wait for the repair crew in a safe place."
)
PAUSE_CODES = ("break", "lunch", "training", "meeting", "coaching", "after-call-work", "other")


@dataclass(frozen=True, slots=True)
class DeskSettings:
    pause_codes: tuple[str, ...] = PAUSE_CODES
    safety_script: str = SAFETY_SCRIPT
    listen_tone: bool = False  # the agent hears a beep when a supervisor starts listening
    streams_per_identity: int = 5  # live streams (``GET /events``) one identity may hold at once


def parse_desk(t: Table) -> DeskSettings:
    codes = t.str_list("pause_codes") if "pause_codes" in t.data else PAUSE_CODES
    t.used.add("pause_codes")
    for code in codes:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", code):
            raise ConfigError(f"{t.path}.pause_codes", "codes of lowercase letters, digits and '-'", code)
    settings = DeskSettings(codes, t.text("safety_script", SAFETY_SCRIPT), t.flag("listen_tone", False),
                            t.integer("streams_per_identity", 5, 1, 500))
    t.check_unknown()
    return settings

"""Callers that entered the engine's Stasis application while its events were lost.

A caller that dials while the events websocket is cut (a network blackhole, a proxy that
drops the connection) enters ``Stasis(cti,inbound,<exten>)`` and Asterisk sends its
StasisStart on a websocket that never delivers it: the channel rings in Stasis, nobody
answers it, and the caller is never served (found by the soak, issue 33). At a resync
the channel listing names them: a channel in our application, entered as ``inbound``,
that the adapter does not know is a new caller, taken as its StasisStart would have
been, unless its channel says the engine had ended its call (``survey.MARK`` is
``ENDED``: a restart cut its last prompt, the survey's thanks or a farewell): that caller
is hung up, as the prompt's end would have done, and not queued again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from cti.calls.survey import ENDED


def unseen_callers(channels: Mapping[str, Mapping[str, Any]], app: str, known: Collection[str],
                   marks: Mapping[str, str],
                   ended: Callable[[str], None]) -> Iterator[tuple[str, Mapping[str, Any], list[str]]]:
    """(channel id, channel, StasisStart args) of each caller in ``app`` that ``known``
    lacks and whose channel's mark (``marks``: read from it; a channel not there is
    gone) is empty, oldest first (the order they dialled in). ``ended`` is told each
    one whose mark says its call had ended."""
    found = []
    for chan_id, ch in channels.items():
        if chan_id in known or chan_id not in marks:
            continue
        if marks[chan_id] == ENDED:
            ended(chan_id)
            continue
        if marks[chan_id]:
            continue  # (a survey's: ``Surveys.orphans``)
        plan = ch.get("dialplan")
        if not isinstance(plan, Mapping) or plan.get("app_name") != "Stasis":
            continue
        name, _, rest = str(plan.get("app_data") or "").partition(",")
        args = rest.split(",") if rest else []
        if name.strip() != app or not args or args[0] != "inbound":
            continue
        found.append((str(ch.get("creationtime") or ""), chan_id, ch, args))
    for _, chan_id, ch, args in sorted(found, key=lambda item: (item[0], item[1])):
        yield chan_id, ch, args

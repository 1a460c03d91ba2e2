"""``[[trunks]]``: how the engine dials out (R11 callbacks; R2 caps the ringing) and
which numbers it may dial (R14).

A number is normalised with phonenumbers (Google's libphonenumber metadata, kept up to
date for every country: a hand-written rule would be wrong for some numbering plan)
in the trunk's ``region``; it must be a valid number there and its national digits
must start with one of ``allowed_prefixes``. The endpoint is the template with
``{number}`` replaced by those digits (``PJSIP/{number}@customers``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from acd import QueueConfig
from acd.plans import PlanConfig
from cti.configreader import Table
from cti.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    endpoint: str  # with {number}
    caller_id: str = ""
    region: str = "CN"
    allowed_prefixes: tuple[str, ...] = ()  # national digits; () = any valid number
    international: bool = False  # numbers of other countries may be dialled
    detect_machines: bool = False  # answered legs go through Asterisk's AMD (cti.outbound.customers)

    def dial_string(self, number: str) -> str | None:
        """The endpoint to dial ``number`` on, or None when the rules refuse it."""
        try:
            parsed = phonenumbers.parse(number, self.region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(parsed):
            return None
        home = phonenumbers.region_code_for_number(parsed) == self.region
        if not home and not self.international:
            return None
        digits = (phonenumbers.national_significant_number(parsed) if home
                  else phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
        if self.allowed_prefixes and not digits.startswith(self.allowed_prefixes):
            return None
        return self.endpoint.replace("{number}", digits)


def parse_trunks(root: Table, queues: Iterable[QueueConfig] = (), plan: PlanConfig | None = None) -> tuple[Trunk, ...]:
    """The trunks; a configuration that offers callbacks (a queue's policy, or a plan
    level) without one to dial them is refused."""
    trunks: list[Trunk] = []
    for t in root.tables("trunks"):
        endpoint = t.text("endpoint")
        if "{number}" not in endpoint or "/" not in endpoint:
            raise ConfigError(f"{t.path}.endpoint", "a channel template such as PJSIP/{number}@customers", endpoint)
        region = t.text("region", "CN").upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"{t.path}.region", "an ISO 3166 region code phonenumbers knows (CN, TW, ...)", region)
        prefixes = t.str_list("allowed_prefixes") if "allowed_prefixes" in t.data else ()
        t.used.add("allowed_prefixes")
        if not all(p.isdigit() for p in prefixes):
            raise ConfigError(f"{t.path}.allowed_prefixes", "digit strings", list(prefixes))
        trunks.append(Trunk(t.text("name"), endpoint, t.text("caller_id", "-") if "caller_id" in t.data else "",
                            region, prefixes, t.flag("international", False), t.flag("detect_machines", False)))
        t.check_unknown()
    offering = [q.name for q in queues if q.offer_callbacks != "plan"]
    if plan is not None and any(level.offer_callbacks for level in plan.levels.values()):
        offering.append(f"plan of {plan.queue}")
    if offering and not trunks:
        raise ConfigError("trunks", f"a [[trunks]] to dial back the callbacks offered ({', '.join(offering)})", None)
    return tuple(trunks)

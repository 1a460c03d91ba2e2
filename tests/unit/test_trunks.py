"""R14 for dialling out (R11 callbacks): only numbers the trunk's rules allow are
dialled; a configuration offering callbacks it cannot dial is refused at start; R2's
ring cap (outbound_max_rings) is a setting that now takes effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.calls.trunks import Trunk
from cti.config import load
from cti.errors import ConfigError
from tests.unit.test_config import BASE, write

TRUNK = Trunk("customers", "PJSIP/{number}@customers", region="CN", allowed_prefixes=("13", "15"))


def test_R14_only_numbers_the_trunk_allows_are_dialled() -> None:
    assert TRUNK.dial_string("13812345678") == "PJSIP/13812345678@customers"
    assert TRUNK.dial_string("+86 138-1234-5678") == "PJSIP/13812345678@customers"  # normalised
    assert TRUNK.dial_string("18912345678") is None  # valid, but not an allowed prefix
    assert TRUNK.dial_string("110") is None  # not a subscriber number
    assert TRUNK.dial_string("caller") is None
    assert TRUNK.dial_string("+1 650 253 0000") is None  # abroad: not unless international
    abroad = Trunk("intl", "PJSIP/{number}@intl", international=True)
    assert abroad.dial_string("+1 650 253 0000") == "PJSIP/+16502530000@intl"
    for forged in ("13812345678;x=1", "138 1234 5678@evil", "13812345678&PJSIP/9"):
        assert abroad.dial_string(forged) is None  # nothing but a number reaches the dial string


def test_R11_R2_callbacks_need_a_trunk_and_the_ring_cap_is_taken(tmp_path: Path) -> None:
    plan = """
[plan]
queue = "support"
[plan.levels.III]
enter = { waiting_at_least = 5 }
leave = { waiting_at_most = 1 }
offer_callbacks = true
"""
    with pytest.raises(ConfigError, match="trunks"):
        load(write(tmp_path, BASE + plan))
    trunk = '\n[[trunks]]\nname = "customers"\nendpoint = "PJSIP/{number}@customers"\n'
    config = load(write(tmp_path, BASE.replace('name = "support"', 'name = "support"\noutbound_max_rings = 4', 1)
                        + plan + trunk))
    assert config.trunks[0].endpoint == "PJSIP/{number}@customers"
    assert next(q for q in config.queues if q.name == "support").outbound_max_rings == 4
    with pytest.raises(ConfigError, match="endpoint"):
        load(write(tmp_path, BASE + '\n[[trunks]]\nname = "x"\nendpoint = "PJSIP/customers"\n'))
    with pytest.raises(ConfigError, match="allowed_prefixes"):
        load(write(tmp_path, BASE + trunk + 'allowed_prefixes = ["1a"]\n'))

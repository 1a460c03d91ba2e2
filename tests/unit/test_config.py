"""Config loading: layering, and a clear message naming the key for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.config import load
from cti.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

BASE = """
[asterisk]
ari_user = "cti"
ari_password = "pw"
ami_user = "cti"
ami_secret = "pw"

[[queues]]
name = "support"

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cti.toml"
    path.write_text(text)
    return path


def test_sandbox_config_loads() -> None:
    cfg = load(ROOT / "config" / "sandbox.toml", environ={})
    assert cfg.http.host == "127.0.0.1"
    assert [q.name for q in cfg.queues] == ["support"]
    assert cfg.queues[0].ring_timeout_s == 10.0  # R1 default: 2 rings x 5 s


def test_defaults_and_environment_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    cfg = load(path, environ={"CTI_ARI_PASSWORD": "from-env", "CTI_HTTP_PORT": "9000"},
               overrides={("http", "port"): 9100})
    assert cfg.asterisk.ari_password == "from-env"
    assert cfg.http.port == 9100
    assert cfg.http.host == "127.0.0.1"
    assert cfg.default_queue == "support"
    assert cfg.queues[0].answer_within_rings == 2


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("[[queues]]\nname = \"support\"", "[[queues]]\nname = \"support\"\nring_cycle_s = -1"), "queues[0].ring_cycle_s"),
        (("[[queues]]\nname = \"support\"", "[[queues]]\nname = \"support\"\nanswer_within_rings = \"two\""), "queues[0].answer_within_rings"),
        (("queues = [\"support\"]", "queues = [\"sales\"]"), "agents[0].queues"),
        (("queues = [\"support\"]", "queues = [\"support\", \"support\"]"), "agents[0].queues"),
        (("endpoint = \"PJSIP/agent1001\"", "endpoint = \"agent1001\""), "agents[0].endpoint"),
        (("ari_user = \"cti\"", "ari_usr = \"cti\""), "asterisk.ari_user"),
        (("[[queues]]", "[[queues]]\nwrapup_s = 3"), "queues[0].wrapup_s"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    path = write(tmp_path, BASE.replace(*change, 1))
    with pytest.raises(ConfigError) as info:
        load(path, environ={})
    assert str(info.value).startswith(key + ":"), str(info.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="valid TOML"):
        load(write(tmp_path, "[asterisk\n"), environ={})
    with pytest.raises(ConfigError, match="an existing file"):
        load(tmp_path / "nope.toml", environ={})


FULL = BASE + """
[[queues]]
name = "gas"
strategy = "best-skill"
weight = 5
overflow_queue = "support"
overflow_after_s = 60
max_waiting = 20
sticky_window_s = 86400
rona_not_ready_after = 2
rona_logout_after = 4
hold_max_s = 30
hold_actions = ["apologize", "unhold"]
relaxation = [{ after_s = 30, lower_levels_by = 1 }, { after_s = 90, drop = ["*"] }]

[[routes]]
exten = "119"
queue = "gas"
emergency = true
kind = "emergency"
skills = { gas = 3 }
"""


def test_queue_rules_and_routes_load(tmp_path: Path) -> None:
    from acd.model import HoldAction, Strategy

    cfg = load(write(tmp_path, FULL), environ={})
    gas = cfg.queues[1]
    assert gas.strategy is Strategy.BEST_SKILL and gas.weight == 5
    assert gas.overflow_queue == "support" and gas.overflow_after_s == 60
    assert gas.hold_actions == (HoldAction.APOLOGIZE, HoldAction.UNHOLD)
    assert [s.after_s for s in gas.relaxation] == [30, 90]
    assert gas.relaxation[1].drop == ("*",)
    route = cfg.routes["119"]
    assert (route.queue, route.emergency, route.skills) == ("gas", True, (("gas", 3),))


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('strategy = "best-skill"', 'strategy = "random"'), "queues[1].strategy"),
        (("skills = { gas = 3 }", "skills = { gas = 6 }"), "routes[0].skills.gas"),
        (('overflow_queue = "support"', 'overflow_queue = "nowhere"'), "queues[1].overflow_queue"),
        (('hold_actions = ["apologize", "unhold"]', 'hold_actions = ["shout"]'), "queues[1].hold_actions"),
        (("after_s = 90", "after_s = 10"), "queues[1].relaxation"),
        (('queue = "gas"', 'queue = "water"'), "routes[0].queue"),
    ],
)
def test_bad_rules_name_the_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, FULL.replace(*change, 1)), environ={})
    assert str(info.value).startswith(key + ":"), str(info.value)


IVR = BASE + """
[[queues]]
name = "repair"

[ivr]
extensions = ["100", "101"]
language = "zh"
greeting = ["greeting"]

[[ivr.menus]]
name = "main"
prompts = ["main-menu"]
[ivr.menus.default]
queue = "support"
[[ivr.menus.options]]
digit = "0"
queue = "support"
emergency = true
[[ivr.menus.options]]
digit = "3"
queue = "repair"
kind = "fault-report"
skills = { gas = 2 }
[[ivr.menus.options]]
digit = "4"
submenu = "main"

[[ivr.hours]]
queue = "repair"
mon = ["08:00-12:00", "13:00-18:00"]
closed = ["2026-10-01"]

[emergency]
webhook_url = "http://127.0.0.1:9000/emergency"
"""


def test_ivr_menus_hours_and_emergency_load(tmp_path: Path) -> None:
    from datetime import datetime

    cfg = load(write(tmp_path, IVR), environ={})
    assert cfg.ivr is not None and cfg.ivr.extensions == ("100", "101")
    menu = cfg.ivr.menus.menus["main"]
    assert menu.option("3").route.skills == (("gas", 2),)  # type: ignore[union-attr]
    assert menu.option("0").route.emergency  # type: ignore[union-attr]
    assert cfg.ivr.menus.hours["repair"].is_open(datetime(2026, 11, 30, 13, 30))
    assert not cfg.ivr.menus.hours["repair"].is_open(datetime(2026, 11, 30, 12, 30))
    assert cfg.emergency.webhook_url == "http://127.0.0.1:9000/emergency"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('digit = "3"', 'digit = "x"'), "ivr.menus[0].options[1].digit"),
        (('submenu = "main"', 'submenu = "nowhere"'), "ivr.menus"),
        (('mon = ["08:00-12:00", "13:00-18:00"]', 'mon = ["8 to 12"]'), "ivr.hours[0].mon"),
        (('webhook_url = "http://127.0.0.1:9000/emergency"', 'webhook_url = "ftp://x"'), "emergency.webhook_url"),
    ],
)
def test_bad_ivr_settings_name_the_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, IVR.replace(*change, 1)), environ={})
    assert str(info.value).startswith(key + ":"), str(info.value)


def test_redis_tls_ca_needs_rediss_and_a_readable_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    good = BASE + f'\n[redis]\nurl = "rediss://127.0.0.1:6390/0"\nca_file = "{ca}"\n'
    assert load(write(tmp_path, good), environ={}).redis.ca_file == ca  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"^redis.ca_file: expected a rediss://"):
        load(write(tmp_path, good.replace("rediss://", "redis://")), environ={})
    with pytest.raises(ConfigError, match=r"^redis.ca_file: expected a readable CA"):
        load(write(tmp_path, good.replace(str(ca), str(tmp_path / "missing.crt"))), environ={})


def test_redis_through_sentinels_and_the_replicas_to_wait_for(tmp_path: Path) -> None:
    """[redis] sentinels (host:port) and service instead of url; replicas_ack and
    replica_wait_ms for the journal's WAIT. Both url and sentinels, a malformed
    sentinel, TLS with sentinels: refused with the key named."""
    good = BASE + ('\n[redis]\nsentinels = ["127.0.0.1:26391", "::1:26392"]\nservice = "contact"\n'
                   'replicas_ack = 1\nreplica_wait_ms = 250\n')
    redis = load(write(tmp_path, good), environ={}).redis
    assert redis is not None
    assert redis.sentinels == (("127.0.0.1", 26391), ("::1", 26392)) and redis.service == "contact"
    assert (redis.replicas_ack, redis.replica_wait_ms) == (1, 250) and "127.0.0.1:26391" in redis.where
    plain = load(write(tmp_path, BASE + '\n[redis]\nurl = "redis://127.0.0.1:6390/0"\n'), environ={}).redis
    assert plain is not None and (plain.sentinels, plain.replicas_ack) == ((), 0)
    for bad, message in (
        ('url = "redis://127.0.0.1:6390/0"\nsentinels = ["127.0.0.1:26391"]', r"^redis.url: expected no url when"),
        ('sentinels = ["127.0.0.1"]', r'^redis.sentinels: expected a list of "host:port"'),
        ('sentinels = []', r"^redis.sentinels: expected a non-empty list"),
        ('sentinels = ["127.0.0.1:26391"]\nca_file = "/etc/ssl/ca.pem"', r"^redis.ca_file: expected no TLS"),
        ('sentinels = ["127.0.0.1:26391"]\nreplicas_ack = 9', r"^redis.replicas_ack: expected an integer <= 5"),
    ):
        with pytest.raises(ConfigError, match=message):
            load(write(tmp_path, BASE + f"\n[redis]\n{bad}\n"), environ={})


def test_cluster_peers_name_an_adapters_trunks_to_the_other_nodes(tmp_path: Path) -> None:
    """[cluster] peers = { a = "node-a" } on an adapter; on any other role, or with a
    value that is no endpoint name: refused with the key named."""
    redis = '\n[redis]\nurl = "redis://127.0.0.1:6390/0"\n'
    good = BASE + redis + '\n[cluster]\nrole = "adapter"\nnode = "b"\npeers = { a = "node-a" }\n'
    assert load(write(tmp_path, good), environ={}).cluster.peers == (("a", "node-a"),)
    for bad, message in ((good.replace('role = "adapter"', 'role = "router"'), r"^cluster.peers: expected trunks"),
                         (good.replace('"node-a"', '"node a;"'), r"^cluster.peers: expected a table")):
        with pytest.raises(ConfigError, match=message):
            load(write(tmp_path, bad), environ={})


def test_cluster_node_gone_after_is_an_adapters_setting(tmp_path: Path) -> None:
    """[cluster] node_gone_after_s (how long an adapter's Asterisk may stay away before
    its calls are ended): a number >= 1 on an adapter; refused on any other role."""
    redis = '\n[redis]\nurl = "redis://127.0.0.1:6390/0"\n'
    good = BASE + redis + '\n[cluster]\nrole = "adapter"\nnode = "b"\nnode_gone_after_s = 30\n'
    assert load(write(tmp_path, good), environ={}).cluster.node_gone_after_s == 30
    assert load(write(tmp_path, BASE), environ={}).cluster.node_gone_after_s == 120
    for bad, message in ((good.replace('role = "adapter"', 'role = "router"'), r"^cluster.node_gone_after_s: expected"),
                         (good.replace("= 30", "= 0.5"), r"^cluster.node_gone_after_s: expected a number >= 1")):
        with pytest.raises(ConfigError, match=message):
            load(write(tmp_path, bad), environ={})


def test_R17_the_survey_is_off_unless_a_queue_turns_it_on_and_bad_keys_are_refused(tmp_path: Path) -> None:
    on = FULL.replace("hold_max_s = 30\n", "hold_max_s = 30\nsurvey = true\nsurvey_timeout_s = 5\n", 1)
    cfg = load(write(tmp_path, on), environ={})
    assert (cfg.queues[0].survey, cfg.queues[1].survey, cfg.queues[1].survey_timeout_s) == (False, True, 5.0)
    for bad, key in (('survey = "yes"', "queues[1].survey"), ("survey_timeout_s = 0.5", "queues[1].survey_timeout_s"),
                     ("survey_timeout_s = 120", "queues[1].survey_timeout_s")):
        with pytest.raises(ConfigError) as info:
            load(write(tmp_path, FULL.replace("hold_max_s = 30\n", f"hold_max_s = 30\n{bad}\n", 1)), environ={})
        assert str(info.value).startswith(key + ":"), str(info.value)

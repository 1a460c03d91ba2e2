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

"""e2e fixtures: real SIP calls from SIPp through the real Asterisk sandbox to the
running engine (`cti run`, a subprocess). Needs `contrib/sandbox up` (make test does
it); without the sandbox these tests fail, they never skip. The harness itself is
``tests/e2e/harness``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import pytest

from tests.e2e.harness import INSTANCE, SANDBOX, AriObserver, Engine, EngineStarter, Sandbox
from tests.e2e.harness.browser import chromium


@pytest.fixture(scope="session")
def sandbox_running() -> None:
    which = ["status"] if INSTANCE == 0 else ["instance", str(INSTANCE), "status"]
    result = subprocess.run([str(SANDBOX), *which], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"the Asterisk sandbox (instance {INSTANCE}) is not running: `contrib/sandbox up`, "
                    f"`contrib/sandbox instance N up` (make test does it)")


@pytest.fixture(autouse=True)
def on_its_instance(request: pytest.FixtureRequest) -> None:
    """A test of node a only (``pytestmark = pytest.mark.instance0``) fails elsewhere."""
    if request.node.get_closest_marker("instance0") and INSTANCE != 0:
        pytest.fail(f"this test runs on the sandbox's node a only, not on instance {INSTANCE}")


@pytest.fixture
def sandbox(sandbox_running: None, tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    box.clear()  # whatever ran before (a demo, a failed test) leaves nothing here
    yield box
    box.close()
    box.clear()


@pytest.fixture
def observer(sandbox_running: None) -> Iterator[AriObserver]:
    obs = AriObserver()
    yield obs
    obs.close()


@pytest.fixture
def start_engine(sandbox: Sandbox, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    starter = EngineStarter(tmp_path)

    def start(*args: Any, **kwargs: Any) -> Engine:
        sandbox.settle()  # the agents the test started are online before the engine looks
        return starter.start(*args, **kwargs)

    yield start
    starter.stop_all()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium (Selenium)."""
    driver = chromium()
    yield driver
    driver.quit()

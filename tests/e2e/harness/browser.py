"""Debian's headless Chromium driven through Selenium (chromium-driver), for the tests
of the agent desk and the wallboard. Missing browser or driver: the test fails."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "artifacts"  # screenshots of the pages


def chromium() -> webdriver.Chrome:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.fail("chromium and chromium-driver are needed (contrib/ensure-tools installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1500,1100", "--lang=zh-TW"):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(service=Service(driver), options=options)
    except WebDriverException as exc:
        pytest.fail(f"chromium did not start: {exc.msg}")


class Page:
    """``lang``: the pages' locale for the test (``?lang=``, kept by the page in its
    cookie): English by default, so that the tests read the pages' English words."""

    def __init__(self, driver: webdriver.Chrome, base: str, lang: str = "en") -> None:
        self.driver = driver
        self.base = base
        self.lang = lang

    def open(self, path: str) -> None:
        if self.lang and "lang=" not in path:
            path += ("&" if "?" in path else "?") + "lang=" + self.lang
        self.driver.get(self.base + path)

    def el(self, element_id: str) -> Any:
        return self.driver.find_element(By.ID, element_id)

    def text(self, element_id: str) -> str:
        try:
            return str(self.el(element_id).text)
        except (StaleElementReferenceException, WebDriverException):
            return ""

    def visible(self, element_id: str) -> bool:
        try:
            return bool(self.el(element_id).is_displayed())
        except (StaleElementReferenceException, WebDriverException):
            return False

    def until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
                lambda _: predicate(), message=what)
        except Exception as exc:
            self.shot(f"failed-{what[:40].replace(' ', '-')}")
            raise AssertionError(f"{what} (within {timeout} s): {exc}\nconsole: {self.console()}") from None

    def click(self, element_id: str, timeout: float = 5.0) -> None:
        """Clicks the element with this id; a page that re-renders it between the lookup
        and the click (the wallboard redraws its tables on every update) is looked up
        again, until the click lands or the timeout passes."""
        def clicked() -> bool:
            try:
                self.el(element_id).click()
                return True
            except StaleElementReferenceException:
                return False
        self.until(clicked, timeout, f"a click on {element_id}")

    def fill(self, element_id: str, value: str) -> None:
        field = self.el(element_id)
        field.clear()
        field.send_keys(value)

    def sign_in(self, name: str, secret: str) -> None:
        self.until(lambda: self.visible("signin"), 10, "the sign-in form")
        self.fill("signin-name", name)
        self.fill("signin-secret", secret)
        self.click("signin-submit")
        self.until(lambda: self.visible("app"), 10, f"{name} signed in")

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.driver.save_screenshot(str(path))
        return path

    def console(self) -> list[Any]:
        try:
            return list(self.driver.get_log("browser"))
        except Exception:
            return []

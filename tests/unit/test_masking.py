"""R14: phone numbers are masked in logs."""

from __future__ import annotations

import logging

import pytest

from cti.masking import MaskingFilter, mask_number


def test_R14_mask_number_keeps_only_prefix_and_last_four() -> None:
    assert mask_number("13812345678") == "138****5678"
    assert mask_number("5551234") == "***1234"
    assert mask_number("110") == "***"


def test_R14_log_filter_masks_numbers_but_not_channel_ids(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.masking")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="test.masking"):
        logger.info("call %s from %s", "1732280000.12", "+8613812345678")
    assert "+8613812345678" not in caplog.text
    assert "+86*******5678" in caplog.text
    assert "1732280000.12" in caplog.text

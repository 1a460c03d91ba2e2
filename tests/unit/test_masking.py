"""R14: phone numbers are masked in logs."""

from __future__ import annotations

import logging

import pytest

from cti.masking import MaskingFilter, mask_number, mask_numbers, mask_text


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


CORPUS = [
    ("13812345678", "138****5678"),
    ("+8613812345678", "+86*******5678"),
    ("138-1234-5678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("+86 138 1234 5678", "+86*******5678"),
    ("(010) 1234-5678", "010****5678"),
    ("0755-8888-1234", "075*****1234"),
]


@pytest.mark.parametrize(("shown", "masked"), CORPUS)
def test_R14_every_shape_of_a_number_is_masked_in_text(shown: str, masked: str) -> None:
    from cti.masking import mask_text

    for text in (f"call from {shown}", f"call from {shown}.", f"{shown}, then hung up", f"caller={shown}",
                 f"'{shown}'", f"({shown})"):
        out = mask_text(text)
        digits = "".join(ch for ch in shown if ch.isdigit())
        assert digits not in "".join(ch for ch in out if ch.isdigit()), (text, out)
        assert masked in out, (text, out)


def test_R14_what_is_not_a_number_is_left_alone() -> None:
    from cti.masking import mask_text

    for text in ("call 1732280000.12 connected", "2026-12-02 01:40:04,712 INFO", "agent 1001 is ready",
                 "cti-offer-1001-1796175607.31-abcx12", "port 5038", "sha256 9f86d081884c7d659a2feaa0c55ad015"):
        assert mask_text(text) == text, text


def test_R14_tracebacks_and_urls_are_masked_too() -> None:
    from cti.masking import MaskingFormatter, redact_url

    formatter = MaskingFormatter("%(message)s")
    try:
        raise ValueError("no route for caller 13812345678")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = formatter.format(record)
    assert "ValueError" in line and "13812345678" not in line and "138****5678" in line
    assert redact_url("redis://cti:s3cret@127.0.0.1:6390/0") == "redis://cti:***@127.0.0.1:6390/0"
    assert redact_url("redis://127.0.0.1:6390/0") == "redis://127.0.0.1:6390/0"


def test_R14_the_ids_the_engine_makes_never_read_as_numbers_so_they_are_never_masked() -> None:
    """A task id of hex digits (T-5798525535) was all digits about once in a hundred and
    supervisors saw it masked (T-579***5535): they could not act on the task. Every id
    the engine makes for a task, customer, article or legal hold is letters after its
    prefix."""
    from cti.knowledge.service import new_article_id
    from cti.masking import letters_id
    from cti.orders.tasks import new_task
    makers = {"task": lambda: new_task("WO-1", "1001", "call-back", "", 0.0).task_id,
              "article": new_article_id, "customer": lambda: letters_id("c-", 12),
              "hold": lambda: letters_id("hold-", 12)}
    for name, make in makers.items():
        ids = {make() for _ in range(3000)}
        assert len(ids) == 3000, name
        for made in ids:
            assert mask_text(made) == made, (name, made)
            assert mask_numbers({"id": made}) == {"id": made}, (name, made)
    assert mask_text("T-5798525535") == "T-579***5535"  # the old kind of id: the reason

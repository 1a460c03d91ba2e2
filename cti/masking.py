"""R14: phone numbers never reach the logs in full."""

from __future__ import annotations

import logging
import re

def mask_number(number: str) -> str:
    """Keep at most the first 3 and last 4 digits: 13812345678 -> 138****5678."""
    digits = number.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) <= 7:
        return "*" * (len(digits) - 4) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


class MaskingFilter(logging.Filter):
    """A safety net for the whole log: any run of 7+ digits that looks like a phone
    number is masked, whatever module logged it."""

    _RUN = re.compile(r"(?<![\d.])\+?\d{7,15}(?![\d.])")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._RUN.sub(lambda m: mask_number(m.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True

"""The ``[recording]`` table (R4/R5)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RecordingConfig:
    spool_dir: Path  # where this host sees Asterisk's recordings
    # the same directory as Asterisk sees it: under Asterisk's recording directory
    # (<astspooldir>/recording), where ARI writes recordings
    asterisk_spool_dir: str
    archive_dir: Path
    retention_months: int = 6
    tolerance_s: float = 1.0
    audit_interval_s: float = 60.0
    purge_interval_s: float = 3600.0
    reader_token: str | None = None  # R14: a token of the reader role
    timezone: str = "UTC"  # the site's ([site] timezone): retention months are counted in it

    def ari_name(self, recording_id: str) -> str:
        """The name ARI records ``recording_id`` under: relative to Asterisk's recording
        directory (``.../recording/cti`` -> ``cti/<id>``)."""
        below = self.asterisk_spool_dir.rstrip("/").split("/recording/", 1)[-1]
        return f"{below}/{recording_id}"

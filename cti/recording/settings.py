"""The ``[recording]`` table (R4/R5)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cti.configreader import Table
from cti.errors import ConfigError


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
    # R4: the dialplan's fallback recordings (MixMonitor while no engine leads), as this
    # host sees them; by default <spool_dir>/fallback (extensions.conf writes there)
    fallback_dir: Path | None = None
    queue_log: Path | None = None  # Asterisk's queue_log as this host sees it (the audit of those calls)

    @property
    def fallback_folder(self) -> Path:
        return self.fallback_dir if self.fallback_dir is not None else self.spool_dir / "fallback"

    def ari_name(self, recording_id: str) -> str:
        """The name ARI records ``recording_id`` under: relative to Asterisk's recording
        directory (``.../recording/cti`` -> ``cti/<id>``)."""
        below = self.asterisk_spool_dir.rstrip("/").split("/recording/", 1)[-1]
        return f"{below}/{recording_id}"


def parse_recording(rc: Table) -> RecordingConfig:
    reader = rc.text("reader_token", "-") if "reader_token" in rc.data else None
    if reader is not None and len(reader) < 16:
        raise ConfigError("recording.reader_token", "a token of 16 characters or more", "***")
    inside = rc.text("asterisk_spool_dir", "/var/spool/asterisk/recording/cti")
    if "/recording/" not in inside:  # ARI records only under Asterisk's recording directory
        raise ConfigError("recording.asterisk_spool_dir", "a directory under <astspooldir>/recording/", inside)
    recording = RecordingConfig(
        spool_dir=Path(rc.text("spool_dir")),
        asterisk_spool_dir=inside,
        archive_dir=Path(rc.text("archive_dir")),
        retention_months=rc.integer("retention_months", 6, 1),
        tolerance_s=rc.number("tolerance_s", 1.0),
        audit_interval_s=rc.number("audit_interval_s", 60.0, 1.0),
        purge_interval_s=rc.number("purge_interval_s", 3600.0, 1.0),
        reader_token=reader,
        fallback_dir=Path(rc.text("fallback_dir")) if "fallback_dir" in rc.data else None,
        queue_log=Path(rc.text("queue_log")) if "queue_log" in rc.data else None,
    )
    rc.check_unknown()
    return recording

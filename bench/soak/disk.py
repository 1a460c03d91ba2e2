"""The recording archive's own small disk (a tmpfs mounted on the soak's archive
folder), which the ``disk-full`` fault fills for a minute and then frees: the engines'
archiving and call log meet ENOSPC / SQLITE_FULL as on a real full disk.

Mounting needs root (the soak's machines run as root). At the end the archive's
small files (sidecars, index, call log) are copied beside the soak's other files,
then the tmpfs is unmounted (the WAVs go with it: the checks have read them)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SIZE = "1g"  # a 30-minute soak archives about 300 calls of 0.4 MB
FILLER = ".soak-filler"


class ArchiveDisk:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mounted = False

    def mount(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0750", "tmpfs", str(self.folder)],
                       check=True, capture_output=True, timeout=30)
        self.mounted = True

    def fill(self) -> str:
        """Every free byte taken by one file (the archive's own files stay)."""
        st = os.statvfs(self.folder)
        free = st.f_bavail * st.f_frsize
        fd = os.open(self.folder / FILLER, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.posix_fallocate(fd, 0, max(free, 1))
        except OSError:
            pass  # (as full as it gets)
        finally:
            os.close(fd)
        left = os.statvfs(self.folder)
        return f"archive disk full ({free / 1e6:.0f} MB taken, {left.f_bavail * left.f_frsize} bytes left)"

    def free(self) -> str:
        (self.folder / FILLER).unlink(missing_ok=True)
        return "archive disk has room again"

    def close(self, keep: Path) -> None:
        if not self.mounted:
            return
        try:
            shutil.copytree(self.folder, keep, ignore=shutil.ignore_patterns("*.wav", FILLER), dirs_exist_ok=True)
        except OSError:
            pass  # (the post-mortem copy only)
        subprocess.run(["umount", str(self.folder)], check=False, capture_output=True, timeout=60)
        self.mounted = False

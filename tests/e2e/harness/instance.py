"""The Asterisk instance this test process drives. `scripts/test-all` runs several e2e
processes at once, each on an instance of its own (``CTI_E2E_INSTANCE``): 0 is the
sandbox's node a on 127.0.0.1 (node b, the load bench's agents and the demo live there);
N >= 1 is `contrib/sandbox instance N`, node a's configuration bound to 127.0.1.N, with
its own SIP, ARI, AMI, RTP and spool; its agents' SIPp and softphones listen on that
address too, so nothing of one process reaches another's calls."""

from __future__ import annotations

import os

INSTANCE = int(os.environ.get("CTI_E2E_INSTANCE", "0"))
HOST = "127.0.0.1" if INSTANCE == 0 else f"127.0.1.{INSTANCE}"
# Asterisk's recording spool as Asterisk sees it (inside the sandbox root)
ASTERISK_SPOOL = "/var/spool/asterisk/recording/cti" if INSTANCE == 0 else f"/var/spool/asterisk-w{INSTANCE}/recording/cti"

"""Recording on a node (R4, R5): an ARI snoop channel, recorded, from answer to hang-up, the
archive of finished files, retention and legal holds, the completeness audit, and the
use cases shared by the HTTP API and the CLI."""

"""The SQL store of the engine's records, and the outbox where notifications wait for their receiver."""

"""R12 in the running engine: dispositions and work orders stored (SQLite or
PostgreSQL), dispatched through the notification outbox, tracked to done."""

"""Redis: the journal of every event before its commands run, snapshots, the leader
lock with its fencing token (R6), and the streams that join Asterisk nodes' adapters
to one router."""

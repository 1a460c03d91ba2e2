"""Agents over HTTP: their state, and login, ready, pause, logout and end of wrap-up
as requests to the core (which refuses what the agent state machine does not allow)."""

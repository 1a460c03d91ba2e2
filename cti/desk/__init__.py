"""The people's pages: the agent desk (``/agent``) and the supervisor wallboard
(``/wallboard``), their data API (``/desk/...``) and the live stream (``/events``)."""

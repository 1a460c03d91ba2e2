"""R18 quality inspection in the engine: sampling calls, the inspection queue (``/quality``),
scoring on the configured form, the agents' replies and the reports."""

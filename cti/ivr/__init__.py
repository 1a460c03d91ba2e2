"""The IVR on ARI: the ``[ivr]`` settings and the runner that plays the pure state
machine's prompts (``ivr.machine``) and collects DTMF; where a caller goes is reported
to the core as ``IvrRouted``."""

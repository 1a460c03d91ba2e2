"""The IVR as a pure state machine (``ivr.machine``): menus from configuration, keys
and timeouts in, prompts to play and the route out. No I/O."""

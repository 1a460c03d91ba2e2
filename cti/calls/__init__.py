"""Calls on one Asterisk node over ARI: the Stasis adapter that turns ARI events into
core events and the core's call actions into ARI requests, the agents' legs and
bridges, and what a waiting caller hears."""

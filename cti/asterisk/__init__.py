"""Asterisk's two interfaces: our ARI client (REST and the events websocket) and the
AMI client (panoramisk's protocol under our own supervision)."""

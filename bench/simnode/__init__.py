"""A simulated Asterisk node: the subset of ARI (REST, events websocket, REST over the
websocket) and AMI (login, Ping) that the engine uses, answering in the shapes Asterisk
22 does, with its own latency. Callers enter Stasis, agents' legs ring and answer after
drawn delays, bridged calls end after a drawn talk time. For the router-capacity
benchmark (``bench/router_capacity.py``) and the conformance test
(``tests/e2e/test_simnode_conformance.py``); never a PBX."""

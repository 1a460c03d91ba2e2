"""Several Asterisk nodes, one router: the Redis streams between the nodes' adapters and the router."""

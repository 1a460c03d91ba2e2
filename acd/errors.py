class AcdError(Exception):
    """Base of the routing core's errors."""


class UnknownAgent(AcdError):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"unknown agent {agent_id!r}")
        self.agent_id = agent_id


class InvalidTransition(AcdError):
    """An agent request that the agent's current state does not allow."""

    def __init__(self, agent_id: str, state: str, request: str) -> None:
        super().__init__(f"agent {agent_id!r} is {state}: cannot {request}")
        self.agent_id = agent_id
        self.state = state
        self.request = request


class UnknownEvent(AcdError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"the core has no handler for {kind} events")


class TransferRefused(AcdError):
    """A transfer or hold the call's state does not allow (not connected to that
    agent, a transfer already going on, a target that cannot take it)."""

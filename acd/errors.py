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


class InvalidCallTransition(AcdError):
    """A change of a call's state that the call-state table (``acd.calls``) does not
    allow: a bug in the core, never a caller's or an agent's doing."""

    def __init__(self, call_id: str, state: str, target: str) -> None:
        super().__init__(f"call {call_id!r} is {state}: cannot become {target}")
        self.call_id = call_id
        self.state = state
        self.target = target

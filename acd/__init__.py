"""The routing core: pure, sans-IO. ``Engine.handle(event) -> list[Command]``.

Imports only the standard library; time arrives inside events.
"""

from acd.engine import AgentView, CallView, Engine
from acd.errors import AcdError, InvalidTransition, UnknownAgent
from acd.model import RING_NO_ANSWER, AgentConfig, AgentState, CallState, QueueConfig

__all__ = [
    "AcdError",
    "AgentConfig",
    "AgentState",
    "AgentView",
    "CallState",
    "CallView",
    "Engine",
    "InvalidTransition",
    "QueueConfig",
    "RING_NO_ANSWER",
    "UnknownAgent",
]

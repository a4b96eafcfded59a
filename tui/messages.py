"""Textual messages carrying engine events from the session's threads to the UI.

* :class:`EngineEvent` wraps every event except ``TokenText``, in order, with a sequence number.
  Consecutive ``Telemetry`` snapshots supersede each other (``can_replace``).
* :class:`TextArrived` says "answer text is waiting in the bridge"; the text itself stays in a
  buffer (``tui.bridge``) and is drained at most ~20 times a second, however fast runs stream.
  Pending ``TextArrived`` messages coalesce too.
* :class:`SessionCrashed` reports an exception that escaped ``Session.run``.
* :class:`NodeGpusRead` carries ``Session.gpu_nodes()`` (GPU readings per node), polled while
  the GPU view is on screen.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from engine import events as ev


class EngineEvent(Message, bubble=False):
    def __init__(self, event: ev.Event, seq: int) -> None:
        super().__init__()
        self.event = event
        self.seq = seq

    def can_replace(self, message: Message) -> bool:
        # an older telemetry snapshot is dropped when a newer one is already queued behind it
        return (
            isinstance(message, EngineEvent)
            and isinstance(self.event, ev.Telemetry)
            and isinstance(message.event, ev.Telemetry)
        )

    def __repr__(self) -> str:  # message_hook logs stay readable
        return f"EngineEvent({type(self.event).__name__}, seq={self.seq})"


class TextArrived(Message, bubble=False):
    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TextArrived)


class SessionCrashed(Message, bubble=False):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


class NodeGpusRead(Message, bubble=False):
    def __init__(self, nodes: list[Any]) -> None:
        super().__init__()
        self.nodes = nodes  # engine.node_gpus.NodeGpus

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, NodeGpusRead)

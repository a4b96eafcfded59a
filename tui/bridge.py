"""The session callback: engine events in (from the session's threads), Textual messages out.

``SessionBridge`` is passed to ``Session.run``. It never blocks the session: every non-text
event is posted as an :class:`~tui.messages.EngineEvent`; ``TokenText`` deltas go into a buffer
(merged per run and problem) and a single :class:`~tui.messages.TextArrived` wakes the UI when
text starts to flow. The UI then drains the buffer on its own timer (``take_text``) and calls
``rearm()`` when a tick finds nothing, so the next delta wakes it again: while runs stream, the
UI thread wakes only on its timer, not per delta.

Order is kept exactly: every event gets a sequence number, and before the UI applies an
``EngineEvent`` it drains the text that was emitted before it (``take_text(before=seq)``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from engine import events as ev
from tui.messages import EngineEvent, TextArrived


@dataclass
class TextChunk:
    """Consecutive deltas of one run's answer, merged."""

    run: str
    problem_id: str
    text: str
    tokens_out: int
    elapsed_s: float
    first_seq: int
    deltas: int = 1


class SessionBridge:
    def __init__(self, post: Callable[[Message], object]) -> None:
        self._post = post
        self._lock = threading.Lock()
        self._seq = 0
        self._last_event_seq = 0  # sequence number of the last non-text event
        self._chunks: list[TextChunk] = []
        self._open: dict[str, TextChunk] = {}  # run -> its chunk still accepting deltas
        self._notified = False
        self.events = 0
        self.deltas = 0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.TokenText):
            with self._lock:
                self._seq += 1
                self.deltas += 1
                chunk = self._open.get(event.run)
                if chunk is not None and chunk.problem_id == event.problem_id and chunk.first_seq > self._last_event_seq:
                    chunk.text += event.text
                    chunk.tokens_out, chunk.elapsed_s = event.tokens_out, event.elapsed_s
                    chunk.deltas += 1
                else:
                    chunk = TextChunk(event.run, event.problem_id, event.text, event.tokens_out, event.elapsed_s, self._seq)
                    self._chunks.append(chunk)
                    self._open[event.run] = chunk
                notify = not self._notified
                self._notified = True
            if notify:
                self._post(TextArrived())
            return
        with self._lock:
            self._seq += 1
            seq = self._last_event_seq = self._seq
            self.events += 1
        self._post(EngineEvent(event, seq))

    @property
    def pending(self) -> bool:
        """Text waits to be drawn."""
        return bool(self._chunks)

    def take_text(self, before: int | None = None) -> tuple[list[TextChunk], bool]:
        """Text emitted before sequence number ``before`` (all when None); and whether text remains."""
        with self._lock:
            if before is None:
                taken, self._chunks = self._chunks, []
            else:
                taken = [c for c in self._chunks if c.first_seq < before]
                self._chunks = [c for c in self._chunks if c.first_seq >= before]
            for c in taken:
                if self._open.get(c.run) is c:
                    del self._open[c.run]
            return taken, bool(self._chunks)

    def rearm(self) -> bool:
        """The UI stops polling: the next delta posts ``TextArrived`` again. False if text is waiting."""
        with self._lock:
            if self._chunks:
                return False
            self._notified = False
            return True

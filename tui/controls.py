"""What the dashboard asks of the app that runs the session: the user's controls.

The dashboard's keys call these; ``tui.app.QuantarenaApp`` implements them. A protocol here keeps
the screen from importing the app that imports it.
"""

from __future__ import annotations

from typing import Protocol


class SessionControls(Protocol):
    def toggle_pause(self) -> None:
        """Pause the runs after the answers in flight, or resume them."""

    def skip_problem(self) -> None:
        """Skip the problem every run is answering."""

    def request_quit(self) -> None:
        """Quit: confirm first while runs are active, then stop them cleanly."""

    def poll_gpu_nodes(self) -> None:
        """Read the session's GPUs per node now (the GPU view was shown)."""

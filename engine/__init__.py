"""quantarena's engine: catalog, runs, timing, telemetry, grading, sizing and placement.

The core both front ends (the ``--batch`` CLI and the Textual TUI) run through. Importing it
pulls in no UI and no backend library: each backend imports its library inside its own run
process, when chosen.
"""

__version__ = "0.1.0"

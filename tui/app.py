"""quantarena's Textual front end: the same session as ``--batch``, watched live.

``make_app`` builds the app for the command line (``run_tui``) and for the tests alike:

* ``make_app(prepared)`` runs that prepared session at once;
* ``make_app(request=req)`` with no runs chosen shows the start screen (runs from the catalog,
  dataset, split, limit, token cap), then runs what was chosen;
* ``make_app(session=s)`` runs an object with the ``Session`` interface (``run(callback)``,
  ``pause``/``resume``/``paused``, ``skip``, ``stop``);
* ``make_app(events=[...])`` replays a fixed list of engine events at mount and runs nothing
  (deterministic snapshots and demos).

The session runs in a thread worker (``@work(thread=True, exit_on_error=False)``) whose only job
is ``session.run(bridge)``: the bridge turns engine events into messages; the UI never blocks the
session. A failure of the worker is shown on screen (error screen + status) — never a crash.
The TUI consumes ``engine.events`` and calls the session's controls, nothing else: it never
imports ``cli`` or a backend.

Exit codes of ``run_tui`` (``engine.exits``, the same policy as ``quantarena --batch``): 0 the session completed (or
nothing was started); 1 the session itself failed (internal error); 2 bad options or catalog
(reported before the screen opens, or on the start screen); 3 the session completed but a run
failed or ran out of memory; 130 quit while runs were active — they were stopped cleanly, every
finished answer is in ``results.jsonl`` and ``summary.json`` was written.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from engine import events as ev
from engine.exits import ExitCode, session_exit_code
from engine.launch import LaunchError, LaunchRequest, Prepared, prepare
from tui.bridge import SessionBridge
from tui.messages import EngineEvent, NodeGpusRead, TextArrived
from tui.model import SessionModel
from tui.screens.dashboard import Dashboard

#: answer text is drawn at most this often (Hz); QUANTARENA_TUI_HZ overrides it. On a small
#: machine every redraw takes CPU from the runs being measured (llama.cpp uses every core), so it
#: draws half as often there: benchmarks/tui-overhead/bench.py measured the cost (benchmarks/tui-overhead/results.json).
DEFAULT_REFRESH_HZ = 20.0 if (os.cpu_count() or 1) > 4 else 10.0

#: after quitting, how long to wait for a session that is still stopping
STOP_GRACE_S = 15.0



class QuantarenaApp(App[int]):
    CSS_PATH = "quantarena.tcss"
    TITLE = "quantarena"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        prepared: Prepared | None = None,
        *,
        request: LaunchRequest | None = None,
        session: Any = None,
        events: Iterable[ev.Event] | None = None,
        clock: Callable[[], float] | None = None,
        refresh_hz: float = DEFAULT_REFRESH_HZ,
        show_summary: bool = True,
        theme: str = "tokyo-night",
    ) -> None:
        super().__init__()
        _start_resource_tracker()
        self.prepared = prepared
        self.request = request
        self.session = session
        self._events = list(events) if events is not None else None
        self.clock = clock or time.monotonic
        self.flush_interval = 1.0 / refresh_hz
        self.show_summary = show_summary
        self.model = SessionModel()
        self.bridge = SessionBridge(self.post_message)
        self.dashboard = Dashboard(self.model, self.clock)
        self._theme_name = theme
        self._last_flush = 0.0
        self._flush_timer: Timer | None = None
        self._worker: Worker[Any] | None = None
        self._nodes_worker: Worker[Any] | None = None
        self.session_done = threading.Event()  # set when Session.run returned (or raised)
        self._quitting = False
        self.flushes = 0  # how many times answer text was drawn (the benchmark reads it)

    # ---- start-up ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self._theme_name in self.available_themes:
            self.theme = self._theme_name
        self.push_screen(self.dashboard)
        self.set_interval(1.0, self.dashboard.tick)
        if self._events is not None:
            self.replay(self._events)
        elif self.session is not None or self.prepared is not None:
            self.start_session()
        elif self.request is not None:
            self.show_start_screen()

    def show_start_screen(self) -> None:
        from engine.catalog import CatalogError, default_catalog_path, load_catalog
        from tui.screens.start import StartScreen

        assert self.request is not None
        try:
            catalog = load_catalog(self.request.models or default_catalog_path())
        except CatalogError as e:
            self.show_error("the catalog cannot be read", str(e))
            return
        self.push_screen(StartScreen(catalog, self.request), self._started_from_screen)

    def _started_from_screen(self, prepared: Prepared | None) -> None:
        if prepared is None:
            self.exit(return_code=ExitCode.OK)
            return
        self.start_session(prepared)

    def start_session(self, prepared: Prepared | None = None) -> None:
        if prepared is not None:
            self.prepared = prepared
        if self.session is None:
            assert self.prepared is not None
            self.session = self.prepared.session()
        runs = getattr(self.session, "runs", None) or (self.prepared.runs if self.prepared else [])
        self.model.declare_runs([getattr(r, "name", str(r)) for r in runs])
        self.dashboard.apply_changes({"runs", "session", "board"})
        self._worker = self._run_session(self.session)

    @work(thread=True, exclusive=True, exit_on_error=False, group="session", name="session")
    def _run_session(self, session: Any) -> Any:
        try:
            return session.run(self.bridge)
        finally:
            self.session_done.set()

    def replay(self, events: Iterable[ev.Event]) -> None:
        """Apply engine events now, in order, as if a session had sent them (no worker)."""
        for e in events:
            if isinstance(e, ev.TokenText):
                changes = self.model.apply_text(e.run, e.problem_id, e.text, e.tokens_out, e.elapsed_s)
            else:
                changes = self.model.apply(e)
            self.dashboard.apply_changes(changes)

    # ---- the session's messages ----------------------------------------------------------------
    def on_engine_event(self, message: EngineEvent) -> None:
        self._flush_text(before=message.seq)
        event = message.event
        if isinstance(event, ev.SessionStarted) and self._quitting:
            self.model.state = "stopping"
        changes = self.model.apply(event)
        if self._quitting and self.model.state == "running":
            self.model.state = "stopping"
        self.dashboard.apply_changes(changes)
        if isinstance(event, ev.SessionFinished):
            self._session_finished()

    def on_text_arrived(self, message: TextArrived) -> None:
        """Text started to flow: draw it now (or at the next tick) and poll while it flows."""
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self._flush_text()
        self._start_flush_timer()

    def _start_flush_timer(self) -> None:
        """One interval timer, paused while no text flows (created once: timers are not free)."""
        if self._flush_timer is None:
            self._flush_timer = self.set_interval(self.flush_interval, self._timed_flush)
        else:
            self._flush_timer.resume()

    def _timed_flush(self) -> None:
        if not self._flush_text() and self.bridge.rearm() and self._flush_timer is not None:
            self._flush_timer.pause()  # nothing came since the last tick: wait for TextArrived

    def _flush_text(self, before: int | None = None) -> bool:
        """Draw the text waiting in the bridge (that emitted before ``before``); False if none."""
        chunks, remaining = self.bridge.take_text(before)
        if chunks:
            changes: set[str] = set()
            for c in chunks:
                changes |= self.model.apply_text(c.run, c.problem_id, c.text, c.tokens_out, c.elapsed_s)
            self.dashboard.apply_changes(changes)
            self._last_flush = time.monotonic()
            self.flushes += 1
        if remaining:
            self._start_flush_timer()
        return bool(chunks)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._worker:
            return
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            self.model.state = "error"
            self.model.error = f"{type(err).__name__}: {err}"
            self.dashboard.apply_changes({"session"})
            if self._quitting:
                self.exit(return_code=ExitCode.ERROR)
                return
            self.show_error("the session stopped with an error", self.model.error + "\n\nAnswers that finished are in "
                            f"{self.model.out_dir or 'the output folder'}.")
        elif event.state == WorkerState.SUCCESS and self.model.state != "finished":
            # the session returned without a SessionFinished event (a custom session object)
            self.model.state = "finished"
            self.dashboard.apply_changes({"session"})
            if self._quitting:
                self.exit(return_code=self.exit_code())

    def _session_finished(self) -> None:
        if self._quitting:
            self.exit(return_code=self.exit_code())
            return
        if self.show_summary and self.model.summary is not None:
            from tui.screens.summary import SummaryScreen

            self.push_screen(SummaryScreen(self.model.summary, self.model.out_dir, self.model.interrupted), self._after_summary)

    def _after_summary(self, choice: str | None) -> None:
        if choice == "quit":
            self.exit(return_code=self.exit_code())

    def show_error(self, title: str, detail: str) -> None:
        from tui.screens.error import ErrorScreen

        def after(choice: str | None) -> None:
            if choice == "quit":
                self.exit(return_code=self.exit_code())

        self.push_screen(ErrorScreen(title, detail), after)

    # ---- GPU readings per node (the GPU view) ---------------------------------------------------
    def poll_gpu_nodes(self) -> None:
        """Ask the session for its GPUs per node (``Session.gpu_nodes()``) off the UI thread: with
        ``--executor ray`` that is a call to every run's actor. One poll at a time."""
        read = getattr(self.session, "gpu_nodes", None)
        if read is None or not self.session_running:
            return
        if self._nodes_worker is not None and self._nodes_worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._nodes_worker = self._read_gpu_nodes(read)

    @work(thread=True, exit_on_error=False, group="gpu-nodes", name="gpu-nodes")
    def _read_gpu_nodes(self, read: Callable[[], list[Any]]) -> None:
        self.post_message(NodeGpusRead(read()))

    def on_node_gpus_read(self, message: NodeGpusRead) -> None:
        self.dashboard.apply_changes(self.model.apply_nodes(message.nodes))

    # ---- controls ------------------------------------------------------------------------------
    @property
    def session_running(self) -> bool:
        return self._worker is not None and self._worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    def toggle_pause(self) -> None:
        if self.session is None or not self.session_running:
            return
        if self.session.paused:
            self.session.resume()
            self.model.paused = False
        else:
            self.session.pause()
            self.model.paused = True
            self.notify("paused: the runs stop after the answers in progress", timeout=3)
        self.dashboard.apply_changes({"session"})

    def skip_problem(self) -> None:
        if self.session is None or not self.session_running:
            return
        self.session.skip()
        self.notify("skipping the answers in progress", timeout=2)

    def request_quit(self) -> None:
        if self._quitting and self.session_running:
            self.exit(return_code=ExitCode.INTERRUPTED)  # a second q while stopping: don't wait
            return
        if self.session is not None and self.session_running:
            from tui.screens.confirm_quit import ConfirmQuit

            active = sum(1 for r in self.model.runs.values() if r.active)
            self.push_screen(ConfirmQuit(active, self.model.out_dir), self._quit_confirmed)
            return
        self.exit(return_code=self.exit_code())

    def _quit_confirmed(self, yes: bool | None) -> None:
        if yes:
            self.stop_session()

    def stop_session(self) -> None:
        """Stop the runs cleanly (finished answers stay on disk), then exit."""
        self._quitting = True
        if self.session is None or not self.session_running:
            self.exit(return_code=self.exit_code())
            return
        self.model.state = "stopping"
        self.dashboard.apply_changes({"session"})
        self.session.stop()

    async def action_quit(self) -> None:
        self.request_quit()

    def exit_code(self) -> int:
        m = self.model
        finished = [r.status for r in m.runs.values()] if m.state == "finished" else []
        return int(session_exit_code(finished, error=m.state == "error", interrupted=m.interrupted))


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker while ``sys.stderr`` is still the real one.

    Textual replaces ``sys.stderr`` with a capture whose ``fileno()`` is -1 while the app runs;
    the tracker, started lazily by the first run process, would then fail to spawn
    ("bad value(s) in fds_to_keep"). Started here, before the app runs, it is simply reused.
    """
    try:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    except Exception:  # noqa: BLE001 - not on this platform: nothing to do
        pass


def make_app(
    prepared: Prepared | None = None,
    *,
    request: LaunchRequest | None = None,
    session: Any = None,
    events: Iterable[ev.Event] | None = None,
    clock: Callable[[], float] | None = None,
    refresh_hz: float = DEFAULT_REFRESH_HZ,
    show_summary: bool = True,
) -> QuantarenaApp:
    """The app, for the command line and the tests alike (see the module docstring)."""
    return QuantarenaApp(prepared, request=request, session=session, events=events, clock=clock,
                         refresh_hz=refresh_hz, show_summary=show_summary)


def run_tui(args: Any) -> int:
    """``quantarena`` without ``--batch``: the same options; returns the exit code."""
    req = LaunchRequest.from_args(args)
    prepared: Prepared | None = None
    if req.runs:
        try:
            prepared = prepare(req)
        except LaunchError as e:
            print(f"quantarena: {e}", file=sys.stderr)
            return e.code
    else:
        from engine.catalog import CatalogError, default_catalog_path, load_catalog

        try:
            load_catalog(req.models or default_catalog_path())
        except CatalogError as e:
            print(f"quantarena: {e}", file=sys.stderr)
            return ExitCode.USAGE
    try:
        hz = float(os.environ.get("QUANTARENA_TUI_HZ", DEFAULT_REFRESH_HZ))
    except ValueError:
        hz = DEFAULT_REFRESH_HZ
    app = make_app(prepared, request=req, refresh_hz=max(1.0, hz))
    app.run()
    code = app.return_code if app.return_code is not None else app.exit_code()
    stuck = False
    if app.session is not None and not app.session_done.is_set():
        # quit twice while stopping: give the runs a moment to stop, then leave anyway
        print("quantarena: waiting for the runs to stop…", file=sys.stderr, flush=True)
        stuck = not app.session_done.wait(STOP_GRACE_S)
    executor = app.prepared.options.executor if app.prepared is not None else None
    if executor is not None:  # --executor ray: every actor ended, a Ray started here stopped
        executor.close()
    m = app.model
    if m.out_dir and app.session is not None:
        out = Path(m.out_dir)
        print(f"results: {out / 'results.jsonl'}\nsummary: {out / 'summary.json'}, {out / 'summary.md'}", flush=True)
    if stuck:
        print(f"quantarena: the runs did not stop within {STOP_GRACE_S:.0f} s; leaving them", file=sys.stderr, flush=True)
        os._exit(int(code))  # the session's thread would hold the interpreter open
    return int(code)

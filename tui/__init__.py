"""quantarena's Textual front end: the same sessions as ``--batch``, watched live.

Entry points: ``tui.app.run_tui(args)`` (the ``quantarena`` command without ``--batch``) and
``tui.app.make_app(...)`` (the command line and the tests). The TUI consumes ``engine.events`` and
calls the session's controls; it never imports ``cli`` or a backend.
"""

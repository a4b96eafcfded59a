"""Where run processes live: on this machine (the default) or on a Ray cluster.

The session builds each run's process through ``SessionOptions.executor`` (None: a local
:class:`engine.run_process.RunProcess`). An executor gives back an object with RunProcess's
interface (``run``, ``start()``, ``send(msg) -> bool``, ``get(timeout)``, ``stop(timeout)``,
``kill()``, ``pid``, ``log_path``, ``inbox``, ``cancel``), so the session never cares where the
run is. ``engine.executors.ray_executor`` puts runs on a Ray cluster; nothing here imports Ray
until that executor is asked for (``import engine`` never does).
"""

from __future__ import annotations

EXECUTORS = ("local", "ray")

"""Start llama-cpp-python's OpenAI-compatible server (``llama_cpp.server``) with llama.cpp's extra
buffer types off.

On CPUs with AMX, llama.cpp 0.3.36's extra CPU buffer types (weight repacking) crash the server
while it loads a model, and the server has no option to turn them off. ``llama_cpp.Llama`` builds
its model parameters from ``llama_cpp.llama_cpp.llama_model_default_params()`` (looked up on the
module at call time), so wrapping that one function before the server loads its model sets
``use_extra_bufts = False`` for every model it loads, and changes nothing else.

    python tests/fakes/llama_server.py --model X.gguf --host 127.0.0.1 --port 8011 [server options]

Every argument goes to ``python -m llama_cpp.server`` unchanged. The tests and
``benchmarks/served-overhead`` start it this way.
"""

from __future__ import annotations

import sys


def _no_extra_buffer_types() -> None:
    import llama_cpp.llama_cpp as lib

    default = lib.llama_model_default_params
    if getattr(default, "_quantarena_no_extra_bufts", False):
        return

    def model_default_params():  # type: ignore[no-untyped-def]
        params = default()
        params.use_extra_bufts = False
        return params

    model_default_params._quantarena_no_extra_bufts = True  # type: ignore[attr-defined]
    lib.llama_model_default_params = model_default_params


def main() -> None:
    _no_extra_buffer_types()
    from llama_cpp.server.__main__ import main as server_main

    print("llama_server.py: use_extra_bufts = False", file=sys.stderr, flush=True)
    server_main()


if __name__ == "__main__":
    main()

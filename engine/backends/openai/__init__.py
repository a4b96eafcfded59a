"""Served engines: any OpenAI-compatible server (vLLM, SGLang, TGI, llama-server, llama-cpp-python)
measured as a backend, on the same problems and the same clock as the local engines.

``backend`` holds the backend; ``client`` the HTTP and server-sent-events client (standard
library only); ``server`` finds the server's process for telemetry; ``tokens`` counts tokens when
the server does not.
"""

from engine.backends.openai.backend import OpenAIBackend

__all__ = ["OpenAIBackend"]

"""genserve: AI media models as headless, observable services for CI/CD pipelines and people."""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # NOTE: `genserve.Client` without importing httpx on `import genserve`
    if name == "Client":
        from genserve.client import Client

        return Client
    raise AttributeError(f"module 'genserve' has no attribute {name!r}")

"""genserve: AI media models as headless, observable services for CI/CD pipelines and people."""

from __future__ import annotations

__version__ = "0.1.0"

"""The REST API: ``create_app()`` builds the FastAPI app over one :class:`genserve.service.Service`."""

from genserve.api.app import create_app

__all__ = ["create_app"]

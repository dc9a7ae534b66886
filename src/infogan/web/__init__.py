"""The latent explorer: a FastAPI app serving one page and a small JSON/PNG API."""

from .app import create_app

__all__ = ["create_app"]

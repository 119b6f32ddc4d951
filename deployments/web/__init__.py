"""Tandem's web app: the partner portal and the staff dashboard (FastAPI, Jinja, no JavaScript)."""

from deployments.web.app import create_app

__all__ = ["create_app"]

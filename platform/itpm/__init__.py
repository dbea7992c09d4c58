"""itpm: IT service project management, configured with JSON definitions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(config: Any = None) -> Flask:
    """The itpm web application; see `itpm.web.app.create_app`."""
    from itpm.web.app import create_app as _create_app

    return _create_app(config)

"""Every table of the gateway, imported by the Alembic environment."""

from gateway.auth.models import ApiClient

__all__ = ["ApiClient"]

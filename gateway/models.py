"""Every table of the gateway, imported by the Alembic environment."""

from gateway.auth.models import ApiClient
from gateway.partners.models import Partner, TrustAnchor

__all__ = ["ApiClient", "Partner", "TrustAnchor"]

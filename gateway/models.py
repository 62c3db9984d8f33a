"""Every table of the gateway, imported by the Alembic environment."""

from gateway.audit.models import AuditCheckpoint, AuditEntry, AuditHead, AuditSubtree, PartnerCheckpoint
from gateway.auth.models import ApiClient
from gateway.certificates.models import Certificate, CertificateEvent
from gateway.documents.models import Blob
from gateway.exchanges.models import DeliveryAttempt, DeliveryJob, Exchange, IdempotencyKey
from gateway.partners.models import Partner, TrustAnchor

__all__ = [
    "ApiClient",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "AuditSubtree",
    "Blob",
    "Certificate",
    "CertificateEvent",
    "DeliveryAttempt",
    "DeliveryJob",
    "Exchange",
    "IdempotencyKey",
    "Partner",
    "PartnerCheckpoint",
    "TrustAnchor",
]

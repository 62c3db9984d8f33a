"""All SQL about partners and their trust anchors."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from gateway.partners.models import Partner, TrustAnchor


class PartnerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, code: str) -> Partner | None:
        return self.session.get(Partner, code)

    def all(self) -> list[Partner]:
        return list(self.session.exec(select(Partner).order_by(col(Partner.code))))

    def add(self, partner: Partner) -> Partner:
        self.session.add(partner)
        self.session.flush()
        return partner

    def save(self, partner: Partner) -> None:
        self.session.add(partner)
        self.session.flush()

    def anchors(self, code: str, *, active_only: bool = False) -> list[TrustAnchor]:
        query = select(TrustAnchor).where(TrustAnchor.partner_code == code)
        if active_only:
            query = query.where(col(TrustAnchor.retired_at).is_(None))
        return list(self.session.exec(query.order_by(col(TrustAnchor.added_at), col(TrustAnchor.id))))

    def anchor(self, anchor_id: uuid.UUID) -> TrustAnchor | None:
        return self.session.get(TrustAnchor, anchor_id)

    def add_anchor(self, anchor: TrustAnchor) -> TrustAnchor:
        self.session.add(anchor)
        self.session.flush()
        return anchor

    def retire_anchor(self, anchor: TrustAnchor, when: datetime) -> None:
        # The only change an anchor row ever sees: history is kept, so a document verified yesterday can be
        # re-checked against the anchors that were in force then.
        anchor.retired_at = when
        self.session.add(anchor)
        self.session.flush()

"""The gateway's background work, in `tradegw serve` (by default) or in `tradegw worker`: delivering queued
exchanges, signing audit checkpoints, and witnessing partners' audit logs. Several processes may run it on one
database: jobs are leased, the checkpoint signer takes a file lock beside its key, and a partner checkpoint is
judged by compare-and-set."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from gateway.audit.checkpoints import CheckpointScheduler, CheckpointSigner
from gateway.audit.witness import WitnessChecker
from gateway.delivery.http import PartnerClients
from gateway.delivery.worker import DeliveryWorker
from gateway.directory.keyring import KeyRing
from gateway.settings import Settings

__all__ = ["Background"]


class Background:
    def __init__(self, settings: Settings, db: Engine, keyring: KeyRing | None) -> None:
        signer = CheckpointSigner.load(settings.resolved_keys_dir)
        self.checkpoints = (
            CheckpointScheduler(signer, db, settings.audit_checkpoint_seconds, settings.audit_checkpoint_entries)
            if signer is not None
            else None
        )
        self.witness = WitnessChecker(
            db,
            interval=settings.audit_witness_seconds,
            timeout=settings.delivery_timeout_seconds,
            clients=PartnerClients(settings.delivery_timeout_seconds, identity=settings.delivery_identity),
        )
        self.delivery = DeliveryWorker(settings, db, keyring)

    def start(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.start()
        self.witness.start()
        self.delivery.start()

    def stop(self) -> None:
        self.delivery.stop()
        self.witness.stop()
        if self.checkpoints is not None:
            self.checkpoints.stop()

"""Alembic environment and versions for the gateway's tables."""

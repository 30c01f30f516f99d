"""Alembic migrations of the whole platform schema."""

"""Prints the Citus statements of the schema, in order: `python -m migrations.citus`.

The order is platform_core/distribution.py's; the tables and the reference tables are
those of migrations/schema.py (the core's and every family's), passed in here so that
platform_core imports no model.
"""

from __future__ import annotations

from migrations.schema import REFERENCE_TABLES, metadata
from platform_core.distribution import citus_statements

if __name__ == "__main__":
    print("\n".join(citus_statements(metadata, REFERENCE_TABLES)))

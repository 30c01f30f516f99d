"""Prints the Citus statements of the schema, in order: `python -m migrations.citus`.

The order and the reference tables are platform_core/distribution.py's; the tables are
those of migrations/schema.py, passed in here so that platform_core imports no model.
"""

from __future__ import annotations

from migrations.schema import metadata
from platform_core.distribution import citus_statements

if __name__ == "__main__":
    print("\n".join(citus_statements(metadata)))

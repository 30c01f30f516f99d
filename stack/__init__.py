"""The local stack: embedded database, migrations, demo data, services and gateway."""

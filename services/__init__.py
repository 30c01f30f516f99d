"""The analytics services, one package per domain."""

"""Landing Analytics: public browser tracking of tenants' landing pages, and their dashboards."""

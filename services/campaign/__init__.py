"""Campaign Analytics: a campaign's instances, purchases and revenue over a time window."""

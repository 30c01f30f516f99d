"""The affiliate analytics domain: tracking data of affiliate businesses."""

"""Instance Analytics: partner user journeys (instances) with their events, orders and rewards."""

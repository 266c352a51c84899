"""The feed itself: observation horizon and feed outages."""

"""HTTP edge: verifies Dodo's webhooks and queues them; serves the merchant app's API."""

"""The HTTP side of headwater: APIs, webhooks, metrics."""

"""Telling people about alerts: what to say, through which channel, and an outbox in the store
so that a failed or interrupted delivery is retried rather than lost."""

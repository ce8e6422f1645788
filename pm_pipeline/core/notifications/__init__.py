"""Notifications of event changes: who is told (routing), what they read (messages)."""

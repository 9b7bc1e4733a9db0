"""Telling the owner: one notification per root cause, with Alertmanager's discipline."""

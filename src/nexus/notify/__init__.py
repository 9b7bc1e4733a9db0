"""Telling the owner: one notification per root cause of the proof, with Alertmanager's discipline."""

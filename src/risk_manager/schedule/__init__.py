"""Scheduler: trading day and resets, CME holiday calendar, session windows (SPEC §6)."""

"""Scheduler: trading day and resets, CME holiday calendar, session windows (docs/rules.md)."""

"""Simple Risk Manager — a real-time risk guardian for ProjectX Gateway (TopstepX) accounts."""

__version__ = "0.1.0"

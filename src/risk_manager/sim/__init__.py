"""Local ProjectX-compatible gateway simulator (see README.md in this directory)."""

from risk_manager.sim.server import Simulator

__all__ = ["Simulator"]

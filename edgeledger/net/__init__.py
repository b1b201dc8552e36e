"""Network drivers: the deterministic simulator (and, later, HTTP)."""

from edgeledger.net.sim import Host, Link, Simulator, Traffic

__all__ = ["Host", "Link", "Simulator", "Traffic"]

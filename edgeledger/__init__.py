"""edgeledger: blockchain-secured federated learning and task offloading for edge/cloud computing."""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""HTTP services: the communication center, the node API and the /observe dashboard."""

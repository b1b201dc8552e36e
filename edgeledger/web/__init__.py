"""HTTP surfaces: the node's REST API (and its OpenAPI document), the communication center's
API and the /observe dashboards. What starts processes lives in :mod:`edgeledger.deploy`."""

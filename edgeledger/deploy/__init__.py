"""What starts real processes: entry points, launchers, deployment plans and TLS.

``node_process``, ``oracle_process`` and ``federation_process`` are the three process entry
points (``edgeledger node``, ``edgeledger oracle node``, ``edgeledger oracle federation-node``);
``cluster``, ``oracle_cluster`` and ``federation_cluster`` start and stop them as local
subprocesses; ``oracle_plan`` and ``federation_plan`` are the trusted dealer's plans;
``tls`` is the cluster's certificate authority. The HTTP API and the dashboards they serve
live in :mod:`edgeledger.web`; the protocol cores they run live below, unchanged.
"""

"""What starts real processes: entry points, launchers, deployment plans and TLS.

* ``bootstrap``: the start-up every deployed process shares (identity, HTTP server,
  registration at the center, genesis from the registered keys, driver, serving);
* ``node_process``, ``oracle_process``, ``federation_process``: the three process entry
  points (``edgeledger node``, ``edgeledger oracle node``, ``edgeledger oracle federation-node``);
* ``cluster``, ``oracle_cluster``, ``federation_cluster``: start, watch and stop them as local
  subprocesses (``edgeledger up`` / ``oracle up`` / ``oracle federation-up``, ``down``);
* ``oracle_plan``, ``federation_plan``, ``plan_files``: the plans (the oracle groups' keys are
  generated on chain; the federation's relay key and test plans are dealt) and the public and
  private files they write;
* ``tls``: the cluster's certificate authority.

The HTTP API and the dashboards these processes serve live in :mod:`edgeledger.web`; the
protocol cores they run live below, unchanged.
"""

"""Prometheus ``/metrics`` of a node process, through ``prometheus_client``.

Conventional names (Prometheus naming guide): counters end in ``_total``, sizes and times
carry their unit (``_bytes``, ``_seconds``), latencies are histograms with buckets, and no
rate is computed here (``rate(edgeledger_transactions_committed_total[1m])`` in PromQL is the
throughput). Each :class:`NodeMetrics` has its own registry (tests run several nodes in one
process); values that other objects already count (the driver's bytes, the store's height)
are read when Prometheus scrapes, by a custom collector, instead of being copied on every event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = ["NodeMetrics", "LATENCY_BUCKETS", "CONTENT_TYPE"]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NodeMetrics:
    """The metrics of one node process: event counters and histograms updated by the API, and a
    collector that reads the node, its driver and its store at scrape time."""

    def __init__(self, api: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, cpu, open fds
        self.commit_latency = Histogram("edgeledger_commit_latency_seconds",
                                        "Submit-to-commit latency of transactions submitted through this node's API",
                                        buckets=LATENCY_BUCKETS, registry=self.registry)
        self.blocks = Counter("edgeledger_blocks_committed", "Blocks this process committed",
                              registry=self.registry)
        self.transactions = Counter("edgeledger_transactions_committed", "Transactions in blocks this process "
                                    "committed (valid or marked invalid)", registry=self.registry)
        self.invalid = Counter("edgeledger_transactions_invalid", "Committed transactions marked invalid",
                               registry=self.registry)
        self.expired = Counter("edgeledger_submissions_expired", "API submissions forgotten uncommitted after "
                               "their time to live", registry=self.registry)
        self.retransmitted = Counter("edgeledger_submissions_retransmitted", "Acknowledged transactions forwarded "
                                     "to the validators again while uncommitted", registry=self.registry)
        self.blob_uploads = Counter("edgeledger_blob_uploads", "Blob uploads by outcome", ["outcome"],
                                    registry=self.registry)
        self.http_refused = Counter("edgeledger_http_requests_refused", "API requests refused before any "
                                    "work, by reason", ["reason"], registry=self.registry)
        self.registry.register(_Snapshot(api))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Snapshot(Collector):
    """Gauges and counters read from the node, driver and store when scraped."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def collect(self) -> Iterator[Metric]:
        api = self.api
        node = api.node
        yield _gauge("edgeledger_up", "1 once the node has its genesis and serves", 1 if node is not None else 0)
        if node is None:
            return
        yield _gauge("edgeledger_chain_height", "Committed blocks in the store", node.store.committed.height)
        consensus = node.consensus
        view = getattr(consensus, "view", None)
        if view is not None:
            yield _gauge("edgeledger_consensus_view", "Current PBFT view", view)
        mempool = getattr(consensus, "mempool", None)
        if mempool is not None:
            yield _gauge("edgeledger_mempool_transactions", "Transactions waiting to be ordered", len(mempool))
        chain = getattr(consensus, "chain", None)
        if chain is not None and hasattr(chain, "in_memory"):
            yield _gauge("edgeledger_consensus_blocks_in_memory", "Committed blocks the consensus core holds",
                         chain.in_memory)
        kv = node.state.kv
        if hasattr(kv, "cached_bytes"):
            yield _gauge("edgeledger_state_cache_bytes", "Bytes in the state table's cache", kv.cached_bytes)
        yield _gauge("edgeledger_submissions_pending", "API submissions waiting for their commit",
                     len(api.submitted))
        yield _gauge("edgeledger_submissions_unconfirmed", "Acknowledged submissions kept on disk until they commit",
                     len(api.pending))
        yield _gauge("edgeledger_blob_uploads_waiting", "Uploaded blobs no committed transaction names yet (deleted "
                     "when their window passes; uploads are refused while 256 wait)", api.uploads.waiting())
        yield _gauge("edgeledger_dashboard_streams", "Open /observe/events streams", len(api.listeners))
        if api.accuracy:
            last = max(api.accuracy)
            yield _gauge("edgeledger_fl_round", "Last completed FL round", last)
            yield _gauge("edgeledger_fl_accuracy", "Test accuracy of the global model (0..1)", api.accuracy[last])
        offload = getattr(api, "offload", None)
        if offload and offload["tasks"]:  # a device of offload.environment = "network"
            for key, name, doc in (("tasks", "tasks", "Offloading tasks finished (run here or offloaded)"),
                                   ("offloaded", "offloaded", "Tasks offloaded to an edge or the cloud"),
                                   ("misses", "misses", "Tasks past their deadline (or lost)"),
                                   ("delay_s", "delay_seconds", "Sum of the tasks' measured delays"),
                                   ("energy_j", "energy_joules", "Sum of the tasks' device energy")):
                yield _counter(f"edgeledger_offload_{name}", doc, offload[key])
        driver = api.driver
        if driver is None:
            return
        stats = driver.stats
        yield _gauge("edgeledger_peers", "Known peers", len(driver.peers))
        yield _gauge("edgeledger_outbound_queue_messages", "Messages queued to peers", driver.queued())
        yield _counter("edgeledger_network_sent_bytes", "Bytes of message batches delivered to peers", stats.bytes_out)
        yield _counter("edgeledger_network_received_bytes", "Bytes of message batches received", stats.bytes_in)
        yield _counter("edgeledger_network_sent_messages", "Messages delivered to peers", stats.messages_out)
        yield _counter("edgeledger_network_received_messages", "Messages accepted from peers", stats.messages_in)
        yield _counter("edgeledger_network_send_retries", "Retried batch posts", stats.retries)
        yield _labelled("edgeledger_network_dropped_messages", "Outbound messages dropped, by reason",
                        dict(stats.dropped_by_reason))
        yield _labelled("edgeledger_network_rejected_envelopes", "Inbound envelopes refused, by reason",
                        dict(stats.rejected_by_reason))
        yield _counter("edgeledger_rejected_inputs", "Inputs the node refused (bad messages, invalid "
                       "transactions)", stats.rejected)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=float(value))


def _labelled(name: str, doc: str, values: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["reason"])
    for reason, count in sorted(values.items()):
        family.add_metric([reason], float(count))
    return family

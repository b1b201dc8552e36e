"""Oracles and multiple chains: SewingChain's Pedal (VRF election, threshold BLS with keys from a
distributed key generation, data and computing oracles, cross-chain collaboration).

Importing this package registers the ``pedal.oracle_proxy`` (with its key generation, term
board and stakes), ``pedal.sensor_feed`` and ``pedal.xchain_gateway`` contracts and the
``oracle.fulfill``, ``xchain.deliver`` and ``xchain.ack`` transaction kinds. Simulation
builders live in ``oracle.simnet`` and ``oracle.multichain``; the computing oracle (imports
torch) in ``oracle.computing``; an observation node's queries in ``oracle.queries``. The
rules are in docs/pedal.md.
"""

from edgeledger.oracle.crosschain import (
    GATEWAY, GATEWAY_CODE, CrossChainGateway, CrossChainMessage, XAck, XDeliver, ack_statement, cross_chain_sender,
    file_statement, root_statement,
)
from edgeledger.oracle.aggregation import aggregate_observations, lower_median
from edgeledger.oracle.data_oracle import FEED_CODE, SensorFeed, SeriesMetadata, archive_series, check_series
from edgeledger.oracle.election import (
    certificate_error, election_threshold, fallback_quorum, pick_master, prove_term, qualifies, verified_output,
)
from edgeledger.oracle.dkg_member import DkgFaults, DkgMember, KeyGenService
from edgeledger.oracle.enrollment import (
    OracleKeys, deal_groups, group_call, group_threshold, oracle_keys, registration_call,
)
from edgeledger.oracle.pedal import FetchJob, PedalConfig, PedalCore
from edgeledger.oracle.proxy import (
    PROXY_CODE, OracleProxy, callback_sender, pending_request, registered_group, registered_nodes, request_body,
)
from edgeledger.oracle.records import (
    ORACLE_MESSAGES, ElectionProof, Fulfillment, Observation, ObservationCall, OracleFulfill, OracleGroup, OracleRegistration,
    OracleRequest, ResultProposal, ResultShare, election_input, result_message,
)
from edgeledger.oracle.privacy import SealedResult, open_params, open_result, seal_params
from edgeledger.oracle.relay import ChainSubmit, RelayCore, RelayShare
from edgeledger.oracle.stake import JUNK
from edgeledger.oracle.service import OracleService, WorkResult, requested_in
from edgeledger.oracle.sources import LyingSource, NoisySensor, Reading, SlowSource, Source, sensor_series

__all__ = [
    "GATEWAY", "GATEWAY_CODE", "CrossChainGateway", "CrossChainMessage", "XAck", "XDeliver", "ack_statement",
    "cross_chain_sender", "file_statement", "root_statement", "ChainSubmit", "RelayCore", "RelayShare",
    "aggregate_observations", "lower_median",
    "FEED_CODE", "SensorFeed", "SeriesMetadata", "archive_series", "check_series",
    "certificate_error", "election_threshold", "fallback_quorum", "pick_master", "prove_term", "qualifies", "verified_output",
    "DkgFaults", "DkgMember", "KeyGenService", "SealedResult", "open_params", "open_result", "seal_params", "JUNK",
    "OracleKeys", "deal_groups", "group_call", "group_threshold", "oracle_keys", "registration_call",
    "FetchJob", "PedalConfig", "PedalCore",
    "PROXY_CODE", "OracleProxy", "callback_sender", "pending_request", "registered_group", "registered_nodes",
    "request_body",
    "ORACLE_MESSAGES", "ElectionProof", "Fulfillment", "Observation", "ObservationCall", "OracleFulfill", "OracleGroup",
    "OracleRegistration", "OracleRequest", "ResultProposal", "ResultShare", "election_input", "result_message",
    "OracleService", "WorkResult", "requested_in",
    "LyingSource", "NoisySensor", "Reading", "SlowSource", "Source", "sensor_series",
]

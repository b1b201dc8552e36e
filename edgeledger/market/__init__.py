"""The edge resource market: service matching, payment channels, membership and task sharing.

Importing it registers the market contracts (``edgetoll.matching@1``, ``edgetoll.payments@2``,
``fabric.task_sharing@1``) and the ``membership.*`` transaction kinds (``membership.admit``: open
membership). ``edgetoll`` holds EdgeToll's payment flow as node services (devices pay the proxy,
the proxy pays the ENs through its own channels). Subpackage ``sharing`` holds the task-sharing
contract and runs the workflow as node services over the simulator; ``view`` gives the CLI and
the dashboard read-only tables (the demo consortium itself is built from a scenario:
``edgeledger.scenario.market_demo``).
"""

from edgeledger.market.admission import (
    ADMISSION_POLICY, AdmissionRequest, AdmissionService, AdmissionSponsor, admitted_identities, make_admission_request,
)
from edgeledger.market.channels import ChannelReceiver, ChannelSender
from edgeledger.market.edgetoll import DeviceVoucher, DeviceWallet, EnPayments, EnVoucher, ProxyPayments
from edgeledger.market.matching import MatchFinding, ServiceMatching, audit_matches, favoured_companies, nearest_node
from edgeledger.market.membership import (
    JoinRequest, MembershipProposal, MembershipVote, ValidatorChange, companies, proposal_state, validator_schedule,
    validator_set,
)
from edgeledger.market.payments import DEFAULT_CHALLENGE_WINDOW_MS, ChannelPayment, Payments, payment_bytes
from edgeledger.market.sharing.contract import PrivateCollection, TaskSharing, shortlist_servers

__all__ = [
    "ADMISSION_POLICY", "AdmissionRequest", "AdmissionService", "AdmissionSponsor", "admitted_identities",
    "make_admission_request", "ChannelReceiver", "ChannelSender", "DeviceVoucher", "DeviceWallet", "EnPayments",
    "EnVoucher", "ProxyPayments", "MatchFinding", "ServiceMatching", "audit_matches", "favoured_companies",
    "nearest_node", "JoinRequest", "MembershipProposal", "MembershipVote", "ValidatorChange", "companies",
    "proposal_state", "validator_set", "validator_schedule", "DEFAULT_CHALLENGE_WINDOW_MS", "ChannelPayment", "Payments", "payment_bytes",
    "PrivateCollection", "TaskSharing", "shortlist_servers",
]

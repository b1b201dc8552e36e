"""The edge resource market: service matching, payment channels, membership and task sharing.

Importing it registers the market contracts (``edgetoll.matching@1``, ``edgetoll.payments@2``,
``fabric.task_sharing@1``) and the ``membership.*`` transaction kinds (``membership.admit``: open
membership). Subpackage ``sharing`` holds the task-sharing contract and runs the workflow as node
services over the simulator; ``demo`` and ``view`` give the CLI and the dashboard an in-process
consortium and read-only tables.
"""

from edgeledger.market.admission import (
    ADMISSION_POLICY, AdmissionRequest, AdmissionService, AdmissionSponsor, admitted_identities, make_admission_request,
)
from edgeledger.market.channels import ChannelReceiver, ChannelSender
from edgeledger.market.matching import MatchFinding, ServiceMatching, audit_matches, favoured_companies, nearest_node
from edgeledger.market.membership import (
    JoinRequest, MembershipProposal, MembershipVote, ValidatorChange, companies, proposal_state, validator_schedule,
    validator_set,
)
from edgeledger.market.payments import DEFAULT_CHALLENGE_WINDOW_MS, ChannelPayment, Payments, payment_bytes
from edgeledger.market.sharing.contract import PrivateCollection, TaskSharing, shortlist_servers

__all__ = [
    "ADMISSION_POLICY", "AdmissionRequest", "AdmissionService", "AdmissionSponsor", "admitted_identities",
    "make_admission_request", "ChannelReceiver", "ChannelSender", "MatchFinding", "ServiceMatching", "audit_matches", "favoured_companies",
    "nearest_node", "JoinRequest", "MembershipProposal", "MembershipVote", "ValidatorChange", "companies",
    "proposal_state", "validator_set", "validator_schedule", "DEFAULT_CHALLENGE_WINDOW_MS", "ChannelPayment", "Payments", "payment_bytes",
    "PrivateCollection", "TaskSharing", "shortlist_servers",
]

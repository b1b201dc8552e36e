"""The off-chain side of a payment channel: the sender signs vouchers, the receiver keeps the best.

Payments are cumulative: each voucher states the total owed so far, so the receiver only
ever needs the latest one, and losing an older one costs nothing. The receiver accepts a
voucher only if it verifies under the sender's registered key, raises the amount, and stays
within the deposit -- the same checks the on-chain ``close`` makes, so every voucher an
honest receiver holds can be redeemed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import LocalProtocolError, RemoteProtocolError
from edgeledger.ledger.identity import Membership
from edgeledger.market.payments import ChannelPayment, payment_bytes

__all__ = ["ChannelSender", "ChannelReceiver"]


@dataclass
class ChannelSender:
    """The paying side of channel ``channel_id`` (escrowed ``deposit``)."""

    key: PrivateKey
    chain_id: str
    contract: str
    channel_id: int
    deposit: int
    paid: int = 0

    def pay(self, increment: int) -> ChannelPayment:
        """Sign a voucher for ``paid + increment``; refuses to promise more than the deposit."""
        if increment <= 0 or self.paid + increment > self.deposit:
            raise LocalProtocolError(
                f"payment of {increment} on channel {self.channel_id} would total {self.paid + increment}, "
                f"expected 0 < total <= deposit {self.deposit}")
        self.paid += increment
        return self.voucher(self.paid)

    def voucher(self, amount: int) -> ChannelPayment:
        """A signed voucher for ``amount`` in total (also used by tests to forge old states)."""
        unsigned = ChannelPayment(chain_id=self.chain_id, contract=self.contract, channel_id=self.channel_id,
                                  amount=amount)
        sig = self.key.sign(payment_bytes(self.chain_id, self.contract, self.channel_id, amount))
        return msgspec.structs.replace(unsigned, signature=sig)


@dataclass
class ChannelReceiver:
    """The paid side: verifies vouchers and keeps the latest (highest) one."""

    membership: Membership
    sender: str
    contract: str
    channel_id: int
    deposit: int
    latest: ChannelPayment | None = field(default=None)

    @property
    def amount(self) -> int:
        return self.latest.amount if self.latest else 0

    def accept(self, voucher: ChannelPayment) -> int:
        """Verify ``voucher`` and keep it if newer; returns the amount newly received."""
        where = f"voucher on channel {self.channel_id}"
        if (voucher.chain_id, voucher.contract, voucher.channel_id) != (
                self.membership.chain_id, self.contract, self.channel_id):
            raise RemoteProtocolError(f"{where}: wrong channel {(voucher.chain_id, voucher.contract, voucher.channel_id)}")
        if not 0 < voucher.amount <= self.deposit:
            raise RemoteProtocolError(f"{where}: amount {voucher.amount} outside 1..deposit {self.deposit}")
        message = payment_bytes(voucher.chain_id, voucher.contract, voucher.channel_id, voucher.amount)
        if not self.membership.verify(self.sender, message, voucher.signature):
            raise RemoteProtocolError(f"{where}: bad signature from {self.sender!r}")
        gained = voucher.amount - self.amount
        if gained > 0:
            self.latest = voucher
        return max(gained, 0)

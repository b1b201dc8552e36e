"""Model-poisoning attacks: one module per attack, all registered in :data:`attacks`."""

from edgeledger.fl.attacks.base import ModelAttack, attacks, build_attack
from edgeledger.fl.attacks.sign_flip import SignFlip

__all__ = ["ModelAttack", "attacks", "build_attack", "SignFlip"]

"""Attacks: model poisoning, alone or colluding (registered in :data:`attacks`), and data
poisoning (registered in :data:`data_attacks`), one module per attack."""

from edgeledger.fl.attacks.alie import Alie, AlieLocal
from edgeledger.fl.attacks.backdoor import Backdoor, PixelTrigger, attack_success_rate
from edgeledger.fl.attacks.base import (
    ColludingAttack,
    DataAttack,
    ModelAttack,
    RoundView,
    attacks,
    build_attack,
    build_data_attack,
    data_attacks,
)
from edgeledger.fl.attacks.data_poisoning import DataPoisoning
from edgeledger.fl.attacks.free_riding import FreeRiding
from edgeledger.fl.attacks.gaussian_noise import GaussianNoise
from edgeledger.fl.attacks.ipm import Ipm, IpmLocal
from edgeledger.fl.attacks.label_flip import LabelFlip
from edgeledger.fl.attacks.scaling import Scaling
from edgeledger.fl.attacks.sign_flip import SignFlip

__all__ = [
    "ModelAttack",
    "ColludingAttack",
    "RoundView",
    "attacks",
    "build_attack",
    "DataAttack",
    "data_attacks",
    "build_data_attack",
    "SignFlip",
    "GaussianNoise",
    "Scaling",
    "Alie",
    "AlieLocal",
    "Ipm",
    "IpmLocal",
    "FreeRiding",
    "LabelFlip",
    "DataPoisoning",
    "Backdoor",
    "PixelTrigger",
    "attack_success_rate",
]

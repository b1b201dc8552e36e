"""User-facing configuration of the MEC offloading model (docs/offloading.md).

Every number of the reference model is a field here with its default; the defaults
combine DROO/LyDROO's radio model (Huang, Bi, Zhang), QECO's task and deadline model
(Rahmati et al.), DDLO's three tiers (Huang et al.) and EdgeCloudSim's WAN figures.
Units are in the field names (``_hz``, ``_bits``, ``_s``, ``_w``, ``_m``, ``_bps``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeledger.errors import ConfigError

__all__ = ["OffloadConfig", "DqnConfig", "OBJECTIVE_WEIGHTS"]

#: The three objective modes of docs/offloading.md as (w_T, w_E).
OBJECTIVE_WEIGHTS: dict[str, tuple[float, float]] = {
    "latency": (1.0, 0.0),
    "energy": (0.0, 1.0),
    "balanced": (0.5, 0.5),
}

_Positive = Field(gt=0)


class DqnConfig(BaseModel):
    """The per-device DQN of docs/offloading.md (DMRO/ChainFL-style agent) and its FL rounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_layers: tuple[int, ...] = (120, 80)
    learning_rate: float = Field(1e-3, gt=0)
    gamma: float = Field(0.9, ge=0, le=1)
    replay_size: int = Field(1024, ge=1)
    batch_size: int = Field(128, ge=1)
    train_every_steps: int = Field(10, ge=1)
    target_sync_steps: int = Field(200, ge=1)
    epsilon_start: float = Field(1.0, ge=0, le=1)
    epsilon_end: float = Field(0.01, ge=0, le=1)
    epsilon_decay_steps: int = Field(4000, ge=1)
    double: bool = False
    dueling: bool = False
    # extension beyond docs/offloading.md's state: a summary of the devices still to decide this slot
    lookahead_features: bool = False
    local_episodes: int = Field(1, ge=1)  # E: local episodes per federated round


class OffloadConfig(BaseModel):
    """Every value of the three-tier MEC model; defaults are docs/offloading.md's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # entities and time
    n_devices: int = Field(10, ge=1)
    n_edges: int = Field(1, ge=1)
    slot_s: float = Field(1.0, gt=0)
    mode: Literal["slot", "queue"] = "slot"
    arrival_prob: float = Field(0.3, ge=0, le=1)  # p_arr, queue mode (QECO)
    attachment: Literal["nearest", "round_robin"] = "nearest"
    episode_slots: int = Field(30, ge=1)

    # channel (DROO/LyDROO)
    antenna_gain: float = Field(3.0, gt=0)  # A_d
    carrier_hz: float = Field(915e6, gt=0)  # f_c of the radio
    path_loss_exponent: float = Field(3.0, gt=0)  # d_e
    light_speed_m_s: float = Field(3e8, gt=0)
    distance_min_m: float = Field(120.0, gt=0)
    distance_max_m: float = Field(255.0, gt=0)
    rician_k: float = Field(0.3, ge=0, le=1)  # LOS ratio K
    noise_dbm_per_hz: float = -174.0
    bandwidth_hz: float = Field(10e6, gt=0)  # B
    rate_overhead: float = Field(1.1, gt=0)  # v_u
    tx_power_w: float = Field(0.1, gt=0)  # P_tx
    ap_power_w: float = Field(1.0, gt=0)  # P_ap
    wan_rate_bps: float = Field(50e6, gt=0)  # R_wan (EdgeCloudSim)
    wan_delay_s: float = Field(0.1, ge=0)  # delta_wan, one way

    # tasks (QECO)
    task_size_min_bits: float = Field(1e6, gt=0)
    task_size_max_bits: float = Field(7e6, gt=0)
    cycles_per_bit: tuple[float, ...] = (197.0, 297.0, 397.0)  # phi choices
    output_ratio: float = Field(0.05, ge=0)  # d_out = output_ratio * d
    deadline_s: float = Field(1.0, gt=0)  # tau
    trace_path: str | None = None  # CSV of arrival_s, device, size_bits, cycles, deadline_s

    # computing and energy
    local_cpu_hz: float = Field(1e9, gt=0)  # f_l
    edge_cpu_hz: float = Field(10e9, gt=0)  # f_e, processor-shared
    cloud_cpu_hz: float = Field(40e9, gt=0)  # per task
    kappa: float = Field(1e-27, ge=0)  # effective switched capacitance
    rx_power_w: float = Field(0.0, ge=0)  # optional receive power while downloading
    idle_power_w: float = Field(0.0, ge=0)  # optional idle power while waiting
    edge_idle_power_w: float = Field(100.0, ge=0)  # server energy, reported only
    edge_max_power_w: float = Field(200.0, ge=0)

    # cost
    objective: Literal["balanced", "latency", "energy"] | None = None
    weight_delay: float = Field(0.5, ge=0)  # w_T
    weight_energy: float = Field(0.5, ge=0)  # w_E
    miss_penalty: float = Field(1.0, ge=0)  # zeta

    # DAG jobs (DMRO-style)
    dag_subtasks_min: int = Field(5, ge=2)  # entry and exit stay on the device
    dag_subtasks_max: int = Field(15, ge=2)
    dag_workload_min_cycles: float = Field(0.2e9, gt=0)
    dag_workload_max_cycles: float = Field(2e9, gt=0)
    dag_data_min_bits: float = Field(0.8e6, gt=0)
    dag_data_max_bits: float = Field(1.6e6, gt=0)
    dag_edge_prob: float = Field(0.3, ge=0, le=1)  # chance of each forward dependency
    dag_deadline_s: float | None = Field(None, gt=0)  # no miss penalty for DAG jobs unless set

    # DQN state normalisers (docs/offloading.md, DQN section) and the agent
    obs_size_scale_bits: float = Field(7e6, gt=0)
    obs_cycles_per_bit_scale: float = Field(397.0, gt=0)
    obs_cycles_scale: float = Field(2.8e9, gt=0)
    obs_rate_scale_bps: float = Field(30e6, gt=0)
    obs_cpu_scale_hz: float = Field(1e9, gt=0)
    obs_channel: Literal["rate", "gain"] = "rate"
    dqn: DqnConfig = DqnConfig()

    @model_validator(mode="after")
    def _check_ranges(self) -> OffloadConfig:
        for low_name, high_name in (
            ("distance_min_m", "distance_max_m"),
            ("task_size_min_bits", "task_size_max_bits"),
            ("dag_subtasks_min", "dag_subtasks_max"),
            ("dag_workload_min_cycles", "dag_workload_max_cycles"),
            ("dag_data_min_bits", "dag_data_max_bits"),
            ("edge_idle_power_w", "edge_max_power_w"),
        ):
            low, high = getattr(self, low_name), getattr(self, high_name)
            if low > high:
                raise ValueError(f"{low_name}={low} to be <= {high_name}={high}")
        if not self.cycles_per_bit or min(self.cycles_per_bit) <= 0:
            raise ValueError(f"cycles_per_bit={self.cycles_per_bit} to be non-empty and positive")
        if self.objective is not None:
            w_t, w_e = OBJECTIVE_WEIGHTS[self.objective]
            explicit = {"weight_delay", "weight_energy"} & self.model_fields_set
            for name, want in (("weight_delay", w_t), ("weight_energy", w_e)):
                if name in explicit and getattr(self, name) != want:
                    raise ValueError(
                        f"{name}={getattr(self, name)} to match objective={self.objective!r} ({want})"
                    )
            object.__setattr__(self, "weight_delay", w_t)
            object.__setattr__(self, "weight_energy", w_e)
        if self.weight_energy > 0 and self.kappa <= 0:
            raise ValueError(f"kappa={self.kappa} to be > 0 while weight_energy > 0 (E_loc normalises energy)")
        if self.weight_delay + self.weight_energy <= 0:
            raise ValueError("weight_delay + weight_energy to be > 0, got 0")
        return self

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, data)) from None

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None = None, **overrides: Any) -> OffloadConfig:
        """Build from a scenario table plus keyword overrides; errors are :class:`ConfigError`."""
        return cls(**{**(values or {}), **overrides})

    @property
    def n_actions(self) -> int:
        """M + 2: local, one per edge, cloud."""
        return self.n_edges + 2

    @property
    def cloud_action(self) -> int:
        return self.n_edges + 1


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    """One line per bad field: its name, the value given and what was expected."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        given = err.get("input", data.get(field))
        if not field:  # a cross-field rule: its message names the fields
            parts.append(f"offload: expected {err['msg'].removeprefix('Value error, ')}")
        elif err["type"] == "extra_forbidden":
            parts.append(f"offload.{field}: unknown field (value {given!r}); expected one of OffloadConfig's fields")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"offload.{field}: got {given!r}; expected {msg}")
    return "; ".join(parts)

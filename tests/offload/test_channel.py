from __future__ import annotations

import math

import numpy as np

from edgeledger.offload.channel import (
    draw_slot_channel,
    draw_topology,
    noise_power_w,
    path_loss,
    rician_gain,
    shannon_rate,
)
from edgeledger.offload.config import OffloadConfig


def test_path_loss_matches_hand_computation():
    c = OffloadConfig()
    expected = 3.0 * (3e8 / (4 * math.pi * 915e6 * 200.0)) ** 3
    assert math.isclose(float(path_loss(c, np.array(200.0))), expected, rel_tol=1e-12)


def test_noise_power_is_minus_174_dbm_per_hz_over_the_band():
    assert math.isclose(noise_power_w(OffloadConfig()), 10 ** (-17.4) * 1e-3 * 10e6, rel_tol=1e-12)


def test_shannon_rate_matches_hand_computation():
    c = OffloadConfig()
    gain = np.array([1e-11])
    snr = 0.1 * 1e-11 / (10 ** (-17.4) * 1e-3 * 10e6)
    assert math.isclose(float(shannon_rate(c, gain, 0.1)[0]), 10e6 / 1.1 * math.log2(1 + snr), rel_tol=1e-12)


def test_rician_gain_has_mean_h0():
    rng = np.random.default_rng(7)
    g = rician_gain(np.full(200_000, 2e-12), 0.3, rng)
    assert abs(g.mean() / 2e-12 - 1.0) < 0.01


def test_nearest_attachment_picks_the_closest_ap():
    c = OffloadConfig(n_devices=20, n_edges=3)
    topo = draw_topology(c, np.random.default_rng(1))
    assert np.array_equal(topo.ap, topo.distances_m.argmin(axis=1))
    assert np.allclose(topo.mean_gain, path_loss(c, topo.distances_m.min(axis=1)))


def test_round_robin_attachment_and_distances_in_range():
    c = OffloadConfig(n_devices=7, n_edges=3, attachment="round_robin")
    topo = draw_topology(c, np.random.default_rng(2))
    assert topo.ap.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert topo.distances_m.min() >= 120 and topo.distances_m.max() <= 255


def test_downlink_is_faster_with_ap_power():
    c = OffloadConfig()
    ch = draw_slot_channel(c, draw_topology(c, np.random.default_rng(3)), np.random.default_rng(4))
    assert np.all(ch.rate_down_bps > ch.rate_up_bps)

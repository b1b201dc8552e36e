from edgeledger.effects import Send, SetTimer
from edgeledger.net.sim import Link, Simulator
from edgeledger.node.center import CENTER_MESSAGES, PeerList
from edgeledger.node.node import wire_decoder

decode_wire = wire_decoder(CENTER_MESSAGES)


class Echo:
    """A host that records deliveries and answers pings."""

    def __init__(self, node_id, reply_to=None):
        self.node_id = node_id
        self.got = []
        self.reply_to = reply_to

    def decode_message(self, data):
        return decode_wire(data)

    def on_message(self, sender, message, now):
        self.got.append((now, sender, len(message.peers)))
        return []

    def on_timer(self, name, now):
        self.got.append((now, "timer", name))
        return [Send(self.reply_to, PeerList(peers=[]))] if self.reply_to else []


def test_delivery_time_is_latency_plus_transmission_and_links_are_fifo():
    sim = Simulator(1, lambda a, b: Link(latency_s=0.01, bandwidth_bps=8000.0))  # 1000 bytes/s
    a, b = Echo("a"), Echo("b")
    sim.add_host(a)
    sim.add_host(b)
    msg = PeerList(peers=[])
    size = len(__import__("edgeledger.codec", fromlist=["encode"]).encode(msg))
    sim.apply("a", [Send("b", msg), Send("b", msg)])
    sim.run()
    t1, t2 = b.got[0][0], b.got[1][0]
    assert abs(t1 - (size / 1000 + 0.01)) < 1e-9
    assert abs(t2 - (2 * size / 1000 + 0.01)) < 1e-9  # queued behind the first
    assert sim.traffic["a"].bytes_sent == 2 * size == sim.traffic["b"].bytes_received


def test_timers_fire_in_order_and_replacing_a_timer_cancels_the_old_one():
    sim = Simulator(1)
    a, b = Echo("a", reply_to="b"), Echo("b")
    sim.add_host(a)
    sim.add_host(b)
    sim.apply("a", [SetTimer("t", 1.0), SetTimer("t", 2.0)])
    sim.run()
    assert [g for g in a.got if g[1] == "timer"] == [(2.0, "timer", "t")]
    assert len(b.got) == 1


def test_loss_is_deterministic_from_the_seed_and_cuts_drop_everything():
    def run(seed):
        sim = Simulator(seed, lambda x, y: Link(loss=0.5))
        a, b = Echo("a"), Echo("b")
        sim.add_host(a)
        sim.add_host(b)
        sim.apply("a", [Send("b", PeerList(peers=[])) for _ in range(200)])
        sim.run()
        return len(b.got), sim.traffic["a"].messages_dropped

    assert run(3) == run(3)
    got, dropped = run(3)
    assert got + dropped == 200 and 50 < got < 150
    sim = Simulator(1)
    a, b = Echo("a"), Echo("b")
    sim.add_host(a)
    sim.add_host(b)
    sim.cut("a", "b")
    sim.apply("a", [Send("b", PeerList(peers=[]))])
    sim.run()
    assert b.got == [] and sim.traffic["a"].messages_dropped == 1


def test_garbage_bytes_are_rejected_where_they_land():
    rejected = []
    sim = Simulator(1, on_reject=lambda node, r, now: rejected.append((node, r.reason)))
    a, b = Echo("a"), Echo("b")
    sim.add_host(a)
    sim.add_host(b)
    sim._deliver("a", "b", b"\x93garbage")
    assert b.got == [] and rejected and rejected[0][0] == "b"


class Crowd:
    """A host group of many Echo hosts, built when an event reaches one and folded away after."""

    def __init__(self, n):
        self.ids = {f"n{i}" for i in range(n)}
        self.built, self.settled, self.awake = [], [], {}

    def __contains__(self, node_id):
        return node_id in self.ids

    def host(self, node_id):
        if node_id not in self.awake:
            self.built.append(node_id)
            self.awake[node_id] = Echo(node_id, reply_to="hub")
        return self.awake[node_id]

    def settle(self, node_id):
        self.settled.append(node_id)
        self.awake.pop(node_id)


def test_a_host_group_builds_a_host_only_for_the_ids_an_event_reaches():
    sim = Simulator(1)
    hub, crowd = Echo("hub"), Crowd(100_000)
    sim.add_host(hub)
    sim.add_group(crowd)
    sim.apply("hub", [Send("n7", PeerList(peers=[])), Send("n99999", PeerList(peers=[])), Send("x", PeerList(peers=[]))])
    sim.apply("n7", [SetTimer("t", 1.0)])
    sim.run()
    assert crowd.built == ["n7", "n99999", "n7"] and crowd.settled == crowd.built and crowd.awake == {}
    assert len(hub.got) == 1  # n7's timer answered the hub
    assert sim.traffic["hub"].messages_dropped == 1  # "x" is nobody
    assert set(sim.traffic) == {"hub", "n7", "n99999"}  # counters only for nodes that sent or received
    assert sim.traffic["n5"].bytes_sent == 0 and "n5" not in sim.traffic

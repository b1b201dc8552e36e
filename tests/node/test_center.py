from edgeledger.crypto.keys import derive_key
from edgeledger.node.center import AddressBook, PeerList, make_registration


def test_center_registers_signed_nodes_and_refuses_a_key_change():
    book = AddressBook()
    k1, k2 = derive_key("ed25519", b"1"), derive_key("ed25519", b"2")
    effects = book.on_register("edge-0", make_registration(k1, "edge-0", "edge", "http://127.0.0.1:9001"), 0.0)
    assert isinstance(effects[0].message, PeerList) and effects[0].message.peers[0].node_id == "edge-0"
    again = book.on_register("edge-0", make_registration(k2, "edge-0", "edge", "http://127.0.0.1:9002"), 1.0)
    assert type(again[0]).__name__ == "Rejected" and "another key" in again[0].reason
    forged = make_registration(k1, "edge-1", "edge", "x")
    assert "names 'edge-1'" in book.on_register("edge-9", forged, 1.0)[0].reason
    assert book.peers["edge-0"].address == "http://127.0.0.1:9001"


def test_the_centers_answer_lists_the_infrastructure_not_every_device():
    """The k-th of D devices used to receive k entries (D^2 / 2 in all); now each answer is bounded."""
    book = AddressBook()
    key = derive_key("ed25519", b"k")
    for node_id, role in [("cloud", "cloud"), ("edge-0", "edge")] + [(f"device-{i}", "device") for i in range(50)]:
        answer = book.on_register(node_id, make_registration(key, node_id, role, f"sim://{node_id}"), 0.0)
        listed = [p.node_id for p in answer[0].message.peers]
    assert listed == ["cloud", "device-49", "edge-0"]  # the infrastructure and the registrant, sorted
    assert len(book.peers) == 52  # the book itself knows everyone (GET /v1/peers in a deployment)
    late = book.on_register("edge-1", make_registration(key, "edge-1", "edge", "sim://edge-1"), 0.0)
    assert [p.node_id for p in late[0].message.peers] == ["cloud", "edge-0", "edge-1"]

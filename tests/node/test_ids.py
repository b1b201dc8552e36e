"""Lazy id collections behave like the list and dicts they stand in for."""

import pytest

from edgeledger.node.ids import GroupedIds, NumberedIds, RoleMap


def test_numbered_ids_are_the_list_of_ids_without_storing_it():
    ids = NumberedIds("device-", 0, 12)
    plain = [f"device-{i}" for i in range(12)]
    assert ids == plain and list(ids) == plain and len(ids) == 12
    assert ids[0] == "device-0" and ids[-1] == "device-11" and ids[3:5] == ["device-3", "device-4"]
    assert ids[::5] == ["device-0", "device-5", "device-10"]
    assert "device-11" in ids and "device-12" not in ids and "device-07" not in ids and "edge-1" not in ids
    assert "device-٣" not in ids and 3 not in ids  # only ASCII digits, only strings
    assert ids.index("device-9") == 9 and ids.position("device-x") is None
    assert ["cloud"] + ids[:2] == ["cloud", "device-0", "device-1"] and ids[10:] + ["x"] == ["device-10", "device-11", "x"]
    with pytest.raises(IndexError):
        ids[12]
    with pytest.raises(ValueError):
        ids.index("device-12")


def test_grouped_ids_map_each_id_to_its_group_by_position():
    ids = NumberedIds("device-", 0, 10)
    edge_of = GroupedIds(ids, ["edge-0", "edge-1", "edge-2"], 4)
    assert dict(edge_of) == {f"device-{i}": f"edge-{i // 4}" for i in range(10)}
    assert edge_of.get("device-12") is None and edge_of.members("edge-2") == ["device-8", "device-9"]
    assert edge_of.members("edge-9") == []


def test_role_map_keeps_the_order_and_lookups_of_the_dict_it_replaces():
    ids = NumberedIds("device-", 0, 3)
    roles = RoleMap({"center": "center", "cloud": "cloud", "edge-0": "edge"}, ids, "device", {"company-0": "company"})
    plain = {"center": "center", "cloud": "cloud", "edge-0": "edge", "device-0": "device", "device-1": "device",
             "device-2": "device", "company-0": "company"}
    assert list(roles.items()) == list(plain.items()) and len(roles) == 7
    assert roles["device-2"] == "device" and roles.get("device-3") is None and "company-0" in roles
    with pytest.raises(ValueError):
        RoleMap({"device-1": "edge"}, ids, "device")

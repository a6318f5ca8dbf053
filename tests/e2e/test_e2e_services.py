"""Service address allocation seen through kubectl: ClusterIPs in 10.96.0.0/12, NodePorts in
30000-32767, conflicts reported as Invalid, and freed ports reusable after delete."""

from __future__ import annotations

import ipaddress

import pytest
from e2e_support import Kubectl, parse_table, service

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


@pytest.mark.both_stores
def test_node_port_allocated_and_freed(k: Kubectl) -> None:
    k.create(service("np1", type_="NodePort"))
    [row] = parse_table(k.ok("get", "service", "np1"))
    assert row["TYPE"] == "NodePort"
    port = int(k.ok("get", "service", "np1", "-o", "jsonpath={.spec.ports[0].nodePort}"))
    assert 30000 <= port <= 32767
    assert row["PORT(S)"] == f"80:{port}/TCP"
    assert ipaddress.ip_address(row["CLUSTER-IP"]) in SERVICE_CIDR

    err = k.fail("create", "-f", "-", input=_json(service("np2", type_="NodePort", node_port=port)))
    assert f"spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated" in err, err
    assert err.startswith('The Service "np2" is invalid: '), err

    k.ok("delete", "service", "np1")
    assert k.create(service("np2", type_="NodePort", node_port=port)) == "service/np2 created\n"
    assert int(k.ok("get", "service", "np2", "-o", "jsonpath={.spec.ports[0].nodePort}")) == port


def test_node_port_out_of_range(k: Kubectl) -> None:
    err = k.fail("create", "-f", "-", input=_json(service("np", type_="NodePort", node_port=80)))
    assert err.startswith('The Service "np" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port '
                          "is not in the valid range. The range of valid ports is 30000-32767"), err


def test_cluster_ip_freed_on_delete(k: Kubectl) -> None:
    k.create(service("a"))
    ip = k.ok("get", "service", "a", "-o", "jsonpath={.spec.clusterIP}")
    assert ipaddress.ip_address(ip) in SERVICE_CIDR
    wanted = service("b")
    wanted["spec"]["clusterIP"] = ip
    err = k.fail("create", "-f", "-", input=_json(wanted))
    assert err.startswith('The Service "b" is invalid: spec.clusterIPs: Invalid value: '), err
    assert "provided IP is already allocated" in err
    k.ok("delete", "service", "a")
    k.create(wanted)
    assert k.ok("get", "service", "b", "-o", "jsonpath={.spec.clusterIP}") == ip


def test_headless_service(k: Kubectl) -> None:
    headless = service("h")
    headless["spec"]["clusterIP"] = "None"
    k.create(headless)
    [row] = parse_table(k.ok("get", "service", "h"))
    assert row["CLUSTER-IP"] == "None"


def _json(obj: dict[str, object]) -> str:
    import json

    return json.dumps(obj)

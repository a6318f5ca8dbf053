from kybernetes.apiserver.requestinfo import parse_request_info


def test_namespaced_resource_paths() -> None:
    ri = parse_request_info(method="GET", path="/apis/apps/v1/namespaces/ns/deployments/web/scale", watch=False)
    assert (ri.group, ri.version, ri.namespace, ri.resource, ri.name, ri.subresource, ri.verb) == (
        "apps", "v1", "ns", "deployments", "web", "scale", "get")


def test_collection_verbs() -> None:
    assert parse_request_info(method="GET", path="/api/v1/pods", watch=False).verb == "list"
    assert parse_request_info(method="GET", path="/api/v1/pods", watch=True).verb == "watch"
    assert parse_request_info(method="DELETE", path="/api/v1/namespaces/a/pods", watch=False).verb == "deletecollection"
    assert parse_request_info(method="POST", path="/api/v1/namespaces/a/pods", watch=False).verb == "create"


def test_namespace_object_and_its_subresources() -> None:
    ri = parse_request_info(method="PUT", path="/api/v1/namespaces/foo/finalize", watch=False)
    assert (ri.resource, ri.name, ri.subresource, ri.verb) == ("namespaces", "foo", "finalize", "update")
    ri = parse_request_info(method="GET", path="/api/v1/namespaces/foo", watch=False)
    assert (ri.resource, ri.name, ri.verb) == ("namespaces", "foo", "get")
    ri = parse_request_info(method="GET", path="/api/v1/namespaces/foo/configmaps", watch=False)
    assert (ri.namespace, ri.resource, ri.verb) == ("foo", "configmaps", "list")


def test_non_resource_paths() -> None:
    assert not parse_request_info(method="GET", path="/version", watch=False).is_resource_request
    assert not parse_request_info(method="GET", path="/apis/apps/v1", watch=False).is_resource_request

"""The official `kubernetes` Python client (v37) against a real `kyb server`: the calls controllers and
operators written in Python make, answered as a Kubernetes API server answers them.

Covers CRUD of pods, configmaps and deployments, selectors, paging, watch (from a list's resourceVersion,
bookmarks, too-large resourceVersion), patch flavours, optimistic concurrency, delete preconditions,
dryRun, generateName, the status / scale / binding / eviction / token subresources, finalizers and
namespace termination. Every test works in its own namespace of the session server.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from cluster import ServerProcess

ISSUER = "https://kubernetes.default.svc.cluster.local"


# The client's typed signatures want model objects and Optional attributes; these tests pass plain dicts
# (which it sends as they are) and read attributes the server always fills, so the API handles are Any.
Api = Any


@pytest.fixture
def core(api_client: client.ApiClient) -> Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def namespace(core: Api) -> str:
    """A fresh namespace made through the Python client (the shared fixture's kubectl sends protobuf)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


@pytest.fixture
def apps(api_client: client.ApiClient) -> Api:
    return client.AppsV1Api(api_client)


def pod_body(name: str, *, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}, **meta},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]},
    }


def deployment_body(name: str, *, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"},
                                        {"name": "sidecar", "image": "busybox:1.36"}]},
            },
        },
    }


def configmap_body(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def status_of(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body or "null")
    assert body["kind"] == "Status", body
    return dict(body)


# ---- CRUD ------------------------------------------------------------------------------------------


def test_pod_crud(core: Api, namespace: str) -> None:
    created = core.create_namespaced_pod(namespace, pod_body("web", labels={"app": "web"}))
    assert created.metadata.name == "web"
    assert created.metadata.namespace == namespace
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.status.phase == "Pending"
    # Defaults applied by the server.
    assert created.spec.restart_policy == "Always"
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert created.spec.containers[0].termination_message_path == "/dev/termination-log"

    got = core.read_namespaced_pod("web", namespace)
    assert got.metadata.uid == created.metadata.uid
    assert got.metadata.resource_version == created.metadata.resource_version

    got.metadata.labels["tier"] = "frontend"
    replaced = core.replace_namespaced_pod("web", namespace, got)
    assert replaced.metadata.labels == {"app": "web", "tier": "frontend"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(namespace, pod_body("web"))
    assert exc.value.status == 409
    assert status_of(exc.value)["reason"] == "AlreadyExists"

    core.delete_namespaced_pod("web", namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("web", namespace)
    assert exc.value.status == 404
    status = status_of(exc.value)
    assert status["reason"] == "NotFound"
    assert status["details"] == {"name": "web", "kind": "pods"}
    assert status["message"] == 'pods "web" not found'


def test_configmap_crud(core: Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, configmap_body("settings", mode="fast"))
    got = core.read_namespaced_config_map("settings", namespace)
    assert got.data == {"mode": "fast"}
    got.data["level"] = "3"
    updated = core.replace_namespaced_config_map("settings", namespace, got)
    assert updated.data == {"mode": "fast", "level": "3"}
    listed = core.list_namespaced_config_map(namespace)
    assert [c.metadata.name for c in listed.items] == ["settings"]
    deleted = core.delete_namespaced_config_map("settings", namespace)
    assert deleted["kind"] == "Status" and deleted["status"] == "Success"  # client 37 returns the raw dict
    assert core.list_namespaced_config_map(namespace).items == []


def test_deployment_crud(apps: Api, namespace: str) -> None:
    created = apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=2))
    assert created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.revision_history_limit == 10
    assert created.spec.progress_deadline_seconds == 600

    got = apps.read_namespaced_deployment("web", namespace)
    got.spec.template.spec.containers[0].image = "nginx:1.28"
    replaced = apps.replace_namespaced_deployment("web", namespace, got)
    assert replaced.spec.template.spec.containers[0].image == "nginx:1.28"
    assert replaced.metadata.generation == 2

    listed = apps.list_namespaced_deployment(namespace)
    assert [d.metadata.name for d in listed.items] == ["web"]
    apps.delete_namespaced_deployment("web", namespace)
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("web", namespace)
    assert exc.value.status == 404
    assert status_of(exc.value)["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


# ---- selectors and paging --------------------------------------------------------------------------


def test_label_and_field_selectors(core: Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_body("a", labels={"app": "web", "tier": "front"}))
    core.create_namespaced_pod(namespace, pod_body("b", labels={"app": "web", "tier": "back"}))
    core.create_namespaced_pod(namespace, pod_body("c", labels={"app": "db"}))

    def names(**kwargs: Any) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(namespace, **kwargs).items]

    assert names(label_selector="app=web") == ["a", "b"]
    assert names(label_selector="app=web,tier!=front") == ["b"]
    assert names(label_selector="tier") == ["a", "b"]
    assert names(label_selector="!tier") == ["c"]
    assert names(label_selector="app in (db, cache)") == ["c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    assert names(field_selector="status.phase=Pending") == ["a", "b", "c"]
    assert names(field_selector="status.phase=Running") == []
    assert names(field_selector="spec.nodeName=") == ["a", "b", "c"]
    assert names(label_selector="app=web", field_selector="metadata.name=a") == ["a"]
    # All namespaces, narrowed to this one by a field selector.
    everywhere = core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={namespace}")
    assert sorted(p.metadata.name for p in everywhere.items) == ["a", "b", "c"]


def test_paging_with_limit_and_continue(core: Api, namespace: str) -> None:
    for i in range(25):
        core.create_namespaced_config_map(namespace, configmap_body(f"cm-{i:02}", i=str(i)))
    first = core.list_namespaced_config_map(namespace, limit=10)
    assert [c.metadata.name for c in first.items] == [f"cm-{i:02}" for i in range(10)]
    assert first.metadata.remaining_item_count == 15
    assert first.metadata._continue
    # A write between pages is not seen: every page is read at the first page's revision.
    core.create_namespaced_config_map(namespace, configmap_body("cm-99"))
    second = core.list_namespaced_config_map(namespace, limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in second.items] == [f"cm-{i:02}" for i in range(10, 20)]
    assert second.metadata.remaining_item_count == 5
    assert second.metadata.resource_version == first.metadata.resource_version
    third = core.list_namespaced_config_map(namespace, limit=10, _continue=second.metadata._continue)
    assert [c.metadata.name for c in third.items] == [f"cm-{i:02}" for i in range(20, 25)]
    assert not third.metadata._continue
    assert third.metadata.remaining_item_count is None
    # Without a limit: everything, including the late write.
    assert len(core.list_namespaced_config_map(namespace).items) == 26


# ---- watch -----------------------------------------------------------------------------------------


def test_watch_from_list_resource_version(core: Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, configmap_body("before"))
    listed = core.list_namespaced_config_map(namespace)
    rv = listed.metadata.resource_version
    core.create_namespaced_config_map(namespace, configmap_body("w", v="1"))
    core.patch_namespaced_config_map("w", namespace, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("w", namespace)

    seen: list[tuple[str, str, str | None]] = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5):
        obj = event["object"]
        seen.append((event["type"], obj.metadata.name, (obj.data or {}).get("v")))
        if len(seen) == 3:
            w.stop()
    # "before" existed at rv: not replayed. The rest in order, the deletion carrying the last state.
    assert seen == [("ADDED", "w", "1"), ("MODIFIED", "w", "2"), ("DELETED", "w", "2")]


def test_watch_streams_live_events_with_increasing_versions(core: Api, namespace: str) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    for i in range(5):
        core.create_namespaced_config_map(namespace, configmap_body(f"x{i}"))
    w = watch.Watch()
    events = []
    for event in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5,
                          label_selector=""):
        events.append(event)
        if len(events) == 5:
            w.stop()
    assert [e["object"].metadata.name for e in events] == [f"x{i}" for i in range(5)]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 5


def test_watch_bookmarks_before_timeout(core: Api, namespace: str) -> None:
    """Kubernetes sends a BOOKMARK to watchers that allow them ~2 s before the watch's deadline
    (cacher: nextBookmarkTime = min(now + frequency, deadline - 2s), checked every second), so a 5 s
    watch gets one well before it ends; a bookmark only at the very end is too late to be useful."""
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, configmap_body("m"))
    started = time.monotonic()
    response = core.list_namespaced_config_map(
        namespace, watch=True, resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=5,
        _preload_content=False,
    )
    types: list[str] = []
    bookmark_at: float | None = None
    last_rv = 0
    for line in response.stream():
        for raw in line.splitlines():
            if raw.strip():
                event = json.loads(raw)
                types.append(event["type"])
                last_rv = max(last_rv, int(event["object"]["metadata"]["resourceVersion"]))
                if event["type"] == "BOOKMARK" and bookmark_at is None:
                    bookmark_at = time.monotonic() - started
                    assert event["object"]["kind"] == "ConfigMap"
                    assert event["object"]["apiVersion"] == "v1"
    response.release_conn()
    assert time.monotonic() - started < 10
    assert types[0] == "ADDED"
    assert bookmark_at is not None, f"no bookmark in a 5 s watch with allowWatchBookmarks: {types}"
    assert bookmark_at <= 4.2, f"bookmark only {bookmark_at:.2f} s into a 5 s watch"
    assert last_rv >= int(rv)


def test_list_at_too_large_resource_version_times_out(core: Api, namespace: str) -> None:
    current = int(core.list_namespaced_config_map(namespace).metadata.resource_version)
    future = str(current + 1_000_000)
    started = time.monotonic()
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(namespace, resource_version=future,
                                        resource_version_match="NotOlderThan")
    elapsed = time.monotonic() - started
    assert exc.value.status == 504
    status = status_of(exc.value)
    assert status["reason"] == "Timeout"
    assert "Too large resource version" in status["message"]
    # client-go's reflector recognises this case by the cause type (StatusCause.Type, "reason" on the wire).
    assert {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"} in (
        status.get("details", {}).get("causes") or []
    ), status
    assert status["details"].get("retryAfterSeconds") == 1
    assert 2.0 <= elapsed < 10


# ---- patch, replace, delete -----------------------------------------------------------------------


def test_patch_flavours(apps: Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment_body("web"))
    # A dict body is sent as a strategic merge patch: containers merge by name, the sidecar survives.
    patched = apps.patch_namespaced_deployment(
        "web", namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}},
    )
    containers = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert containers == {"web": "nginx:1.28", "sidecar": "busybox:1.36"}
    # $patch: delete directive of strategic merge.
    patched = apps.patch_namespaced_deployment(
        "web", namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}},
    )
    assert [c.name for c in patched.spec.template.spec.containers] == ["web"]
    # A list body is a JSON patch.
    patched = apps.patch_namespaced_deployment(
        "web", namespace,
        [{"op": "replace", "path": "/spec/replicas", "value": 3},
         {"op": "add", "path": "/metadata/labels/extra", "value": "yes"}],
    )
    assert patched.spec.replicas == 3
    assert patched.metadata.labels["extra"] == "yes"
    # Label removal with null in a merge.
    patched = apps.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"extra": None}}})
    assert "extra" not in patched.metadata.labels


def test_configmap_patch_merges_data(core: Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, configmap_body("c", a="1", b="2"))
    patched = core.patch_namespaced_config_map("c", namespace, {"data": {"b": None, "c": "3"}})
    assert patched.data == {"a": "1", "c": "3"}


def test_replace_with_stale_resource_version_conflicts(core: Api, namespace: str) -> None:
    first = core.create_namespaced_config_map(namespace, configmap_body("c", v="1"))
    stale = core.read_namespaced_config_map("c", namespace)
    stale.data["v"] = "2"
    core.replace_namespaced_config_map("c", namespace, stale)
    stale.data["v"] = "3"  # still carries the first resourceVersion
    assert stale.metadata.resource_version == first.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("c", namespace, stale)
    assert exc.value.status == 409
    status = status_of(exc.value)
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert core.read_namespaced_config_map("c", namespace).data == {"v": "2"}


def test_delete_preconditions(core: Api, namespace: str) -> None:
    cm = core.create_namespaced_config_map(namespace, configmap_body("c"))
    wrong_uid = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=str(uuid.uuid4())))
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map("c", namespace, body=wrong_uid)
    assert exc.value.status == 409
    assert "Precondition failed: UID in precondition" in status_of(exc.value)["message"]
    wrong_rv = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1"))
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map("c", namespace, body=wrong_rv)
    assert exc.value.status == 409
    assert "Precondition failed: ResourceVersion in precondition" in status_of(exc.value)["message"]
    core.read_namespaced_config_map("c", namespace)  # still there
    right = client.V1DeleteOptions(preconditions=client.V1Preconditions(
        uid=cm.metadata.uid, resource_version=cm.metadata.resource_version))
    core.delete_namespaced_config_map("c", namespace, body=right)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("c", namespace)
    assert exc.value.status == 404


def test_dry_run_creates_updates_and_deletes_nothing(core: Api, namespace: str) -> None:
    answered = core.create_namespaced_pod(namespace, pod_body("dry"), dry_run="All")
    assert answered.metadata.name == "dry"
    assert answered.metadata.uid  # filled in as for a real create
    assert answered.spec.restart_policy == "Always"
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("dry", namespace)
    assert exc.value.status == 404

    core.create_namespaced_config_map(namespace, configmap_body("c", v="1"))
    before = core.read_namespaced_config_map("c", namespace)
    core.patch_namespaced_config_map("c", namespace, {"data": {"v": "2"}}, dry_run="All")
    core.delete_namespaced_config_map("c", namespace, dry_run="All")
    after = core.read_namespaced_config_map("c", namespace)
    assert after.data == {"v": "1"}
    assert after.metadata.resource_version == before.metadata.resource_version


def test_generate_name(core: Api, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "job-"}}
    names = {core.create_namespaced_config_map(namespace, body).metadata.name for _ in range(5)}
    assert len(names) == 5
    for name in names:
        assert name.startswith("job-") and len(name) == len("job-") + 5
    created = core.create_namespaced_config_map(namespace, body)
    assert created.metadata.generate_name == "job-"


# ---- subresources ----------------------------------------------------------------------------------


def test_status_subresource(apps: Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=2))
    patched = apps.patch_namespaced_deployment_status(
        "web", namespace, {"spec": {"replicas": 7}, "status": {"replicas": 2, "readyReplicas": 1,
                                                              "observedGeneration": 1}},
    )
    assert patched.status.replicas == 2 and patched.status.ready_replicas == 1
    assert patched.spec.replicas == 2  # spec is not writable through status
    assert patched.metadata.generation == 1

    current = apps.read_namespaced_deployment("web", namespace)
    current.spec.replicas = 4
    current.status.replicas = 99
    updated = apps.replace_namespaced_deployment("web", namespace, current)
    assert updated.spec.replicas == 4
    assert updated.status.replicas == 2  # the main resource ignores status
    assert updated.metadata.generation == 2
    read_status = apps.read_namespaced_deployment_status("web", namespace)
    assert read_status.status.ready_replicas == 1


def test_scale_subresource(apps: Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=1))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.kind == "Scale" and scale.api_version == "autoscaling/v1"
    assert scale.spec.replicas == 1
    assert scale.status.selector == "app=web"
    patched = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 5
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": -1}})
    assert exc.value.status == 422


def _binding(pod: str, node: str) -> client.V1Binding:
    return client.V1Binding(metadata=client.V1ObjectMeta(name=pod),
                            target=client.V1ObjectReference(api_version="v1", kind="Node", name=node))


def test_pod_binding_subresource(core: Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_body("p"))
    response = core.create_namespaced_pod_binding("p", namespace, _binding("p", "node-1"), _preload_content=False)
    assert response.status == 201
    assert json.loads(response.data)["status"] == "Success"
    pod = core.read_namespaced_pod("p", namespace)
    assert pod.spec.node_name == "node-1"
    scheduled = [c for c in pod.status.conditions or [] if c.type == "PodScheduled"]
    assert scheduled and scheduled[0].status == "True"
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod_binding("p", namespace, _binding("p", "node-2"), _preload_content=False)
    assert exc.value.status == 409
    assert 'is already assigned to node "node-1"' in status_of(exc.value)["message"]
    assert core.read_namespaced_pod("p", namespace).spec.node_name == "node-1"


def test_bindings_resource_binds_the_pod(core: Api, namespace: str) -> None:
    """POST /api/v1/namespaces/<ns>/bindings is the older form of pods/binding: it binds the named pod
    (and stores no Binding object; `bindings` is create-only)."""
    core.create_namespaced_pod(namespace, pod_body("p"))
    core.create_namespaced_binding(namespace, _binding("p", "node-1"), _preload_content=False)
    assert core.read_namespaced_pod("p", namespace).spec.node_name == "node-1"
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_binding(namespace, _binding("p", "node-2"), _preload_content=False)
    assert exc.value.status == 409
    assert "already assigned" in status_of(exc.value)["message"]


def test_eviction_deletes_an_unscheduled_pod(core: Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_body("p"))
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name="p", namespace=namespace))
    core.create_namespaced_pod_eviction("p", namespace, eviction, _preload_content=False)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("p", namespace)
    assert exc.value.status == 404


def test_eviction_blocked_by_disruption_budget(api_client: client.ApiClient, core: Api,
                                              namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_body("p", labels={"app": "db"}))
    policy: Api = client.PolicyV1Api(api_client)
    policy.create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}},
    })
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name="p", namespace=namespace))
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod_eviction("p", namespace, eviction)
    assert exc.value.status == 429
    assert core.read_namespaced_pod("p", namespace).metadata.deletion_timestamp is None


def _client_with_token(server: ServerProcess, token: str) -> client.ApiClient:
    from kubernetes import config

    base = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=base)
    configuration = client.Configuration()
    configuration.host = base.host
    configuration.ssl_ca_cert = base.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def test_token_request(server: ServerProcess, core: Api, namespace: str) -> None:
    core.create_namespaced_service_account(namespace, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                       "metadata": {"name": "robot"}})
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                  expiration_seconds=3600))
    answered = core.create_namespaced_service_account_token("robot", namespace, request)
    token = answered.status.token
    assert answered.status.expiration_timestamp is not None
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == f"system:serviceaccount:{namespace}:robot"
    assert claims["aud"] == [ISSUER]
    assert claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["kubernetes.io"]["namespace"] == namespace
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "robot"

    custom = core.create_namespaced_service_account_token("robot", namespace, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["vault"])))
    assert jwt.decode(custom.status.token, options={"verify_signature": False})["aud"] == ["vault"]

    core.create_namespaced_pod(namespace, pod_body("p"))
    with _client_with_token(server, token) as as_robot:
        robot_core: Api = client.CoreV1Api(as_robot)
        pods = robot_core.list_namespaced_pod(namespace)
        assert [p.metadata.name for p in pods.items] == ["p"]
    # A token for another audience does not authenticate against the API server.
    with _client_with_token(server, custom.status.token) as as_vault, pytest.raises(ApiException) as exc:
        client.CoreV1Api(as_vault).list_namespaced_pod(namespace)
    assert exc.value.status == 401

    core.delete_namespaced_service_account("robot", namespace)
    with _client_with_token(server, token) as as_robot, pytest.raises(ApiException) as exc:
        client.CoreV1Api(as_robot).list_namespaced_pod(namespace)
    assert exc.value.status == 401
    assert status_of(exc.value)["reason"] == "Unauthorized"


def test_token_request_for_missing_account(core: Api, namespace: str) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service_account_token("ghost", namespace, client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[])))
    assert exc.value.status == 404


# ---- finalizers and namespace lifecycle --------------------------------------------------------------


def test_finalizer_holds_deletion(core: Api, namespace: str) -> None:
    body = configmap_body("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    core.create_namespaced_config_map(namespace, body)
    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["example.com/hold"]
    # Deleting again changes nothing.
    core.delete_namespaced_config_map("held", namespace)
    again = core.read_namespaced_config_map("held", namespace)
    assert again.metadata.resource_version == held.metadata.resource_version
    # New finalizers cannot be added once deletion started.
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("held", namespace, [
            {"op": "add", "path": "/metadata/finalizers/-", "value": "example.com/other"}])
    assert exc.value.status == 422
    core.patch_namespaced_config_map("held", namespace, [{"op": "remove", "path": "/metadata/finalizers"}])
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("held", namespace)
    assert exc.value.status == 404


def test_namespace_gets_the_kubernetes_finalizer_and_terminates(core: Api) -> None:
    """Kubernetes adds `spec.finalizers: [kubernetes]` to every new namespace, so deleting one turns it
    Terminating (the namespace controller empties it, then removes the finalizer)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    created = core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert created.spec.finalizers == ["kubernetes"]
    assert created.status.phase == "Active"
    core.delete_namespace(name)
    ns = core.read_namespace(name)
    assert ns.status.phase == "Terminating"
    assert ns.metadata.deletion_timestamp is not None


def test_terminating_namespace_refuses_new_content(core: Api) -> None:
    name = f"t-{uuid.uuid4().hex[:10]}"
    # The finalizer is given explicitly so this test does not depend on the server adding it.
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                           "spec": {"finalizers": ["kubernetes"]}})
    core.create_namespaced_config_map(name, configmap_body("kept"))
    core.delete_namespace(name)
    ns = core.read_namespace(name)
    assert ns.status.phase == "Terminating"
    assert ns.metadata.deletion_timestamp is not None
    assert ns.spec.finalizers == ["kubernetes"]
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(name, configmap_body("new"))
    assert exc.value.status == 403
    status = status_of(exc.value)
    assert status["reason"] == "Forbidden"
    assert (f"unable to create new content in namespace {name} because it is being terminated"
            in status["message"])
    # Existing content can still be read and updated (the namespace controller needs it).
    core.patch_namespaced_config_map("kept", name, {"data": {"a": "b"}})
    assert core.read_namespace(name).status.phase == "Terminating"


def test_create_in_missing_namespace(core: Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(f"missing-{uuid.uuid4().hex[:6]}", configmap_body("c"))
    assert exc.value.status == 404
    assert status_of(exc.value)["details"]["kind"] == "namespaces"

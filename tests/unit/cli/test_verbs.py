"""Pure parts of the verbs: exec's argument split and exit status, rollout status lines, port mapping, top."""

from __future__ import annotations

import argparse

import pytest

from kybernetes.cli.context import CliError
from kybernetes.cli.events import event_row
from kybernetes.cli.exec import add_arguments as exec_arguments
from kybernetes.cli.exec import exit_code_of, split_words
from kybernetes.cli.logs import choose_container
from kybernetes.cli.main import build_parser
from kybernetes.cli.portforward import PortMapping, parse_ports, remote_port
from kybernetes.cli.rollout import status_message
from kybernetes.cli.top import cpu_text, memory_text


def exec_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    exec_arguments(parser)
    return split_words(parser.parse_args(list(argv)))


def test_exec_flags_before_and_after_the_pod() -> None:
    args = exec_args("-i", "web", "-c", "app", "-n", "prod", "--", "sh", "-c", "exit 3")
    assert (args.pod, args.container, args.namespace, args.stdin, args.tty) == ("web", "app", "prod", True, False)
    assert args.command == ["sh", "-c", "exit 3"]
    assert exec_args("web", "ls").command == ["ls"]
    with pytest.raises(CliError):
        exec_args()


def test_exec_exit_status_from_the_error_channel() -> None:
    assert exit_code_of({"status": "Success"}) == (0, "")
    failure = {"status": "Failure", "reason": "NonZeroExitCode",
               "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    assert exit_code_of(failure) == (3, "command terminated with exit code 3")
    assert exit_code_of({"status": "Failure", "message": "no such container"}) == (1, "error: no such container")


def test_rollout_status_messages() -> None:
    def deploy(**status: int) -> dict[str, object]:
        return {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3},
                "status": {"observedGeneration": 2, **status}}

    assert status_message({"metadata": {"name": "web", "generation": 3}, "status": {"observedGeneration": 2}}) == (
        "Waiting for deployment spec update to be observed...", False)
    assert status_message(deploy(updatedReplicas=1, replicas=3))[0].endswith(
        "1 out of 3 new replicas have been updated...")
    assert status_message(deploy(updatedReplicas=3, replicas=4))[0].endswith(
        "1 old replicas are pending termination...")
    assert status_message(deploy(updatedReplicas=3, replicas=3, availableReplicas=1)) == (
        'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...', False)
    assert status_message(deploy(updatedReplicas=3, replicas=3, availableReplicas=3)) == (
        'deployment "web" successfully rolled out', True)
    stuck = deploy(updatedReplicas=1, replicas=3)
    stuck["status"]["conditions"] = [  # type: ignore[index]
        {"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(CliError, match="exceeded its progress deadline"):
        status_message(stuck)


def test_port_mappings() -> None:
    assert parse_ports(["8080:80", "9090", ":53"]) == [
        PortMapping(8080, "80"), PortMapping(9090, "9090"), PortMapping(0, "53")]
    with pytest.raises(CliError):
        parse_ports(["x:80"])
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}}
    svc = {"metadata": {"name": "s"}, "spec": {"ports": [{"name": "web", "port": 80, "targetPort": "http"},
                                                          {"port": 81, "targetPort": 9000}]}}
    assert remote_port(pod=pod, service=svc, remote="80") == 8080
    assert remote_port(pod=pod, service=svc, remote="web") == 8080
    assert remote_port(pod=pod, service=svc, remote="81") == 9000
    assert remote_port(pod=pod, service=None, remote="http") == 8080
    with pytest.raises(CliError):
        remote_port(pod=pod, service=svc, remote="82")


def test_default_container_choice(capsys: pytest.CaptureFixture[str]) -> None:
    pod = {"metadata": {}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    assert choose_container(pod, requested="") == "a"
    assert capsys.readouterr().err == 'Defaulted container "a" out of: a, b\n'
    pod["metadata"] = {"annotations": {"kubectl.kubernetes.io/default-container": "b"}}
    assert choose_container(pod, requested="") == "b" and choose_container(pod, requested="a") == "a"


def test_top_units_and_event_rows() -> None:
    assert (cpu_text(10), memory_text(8 * 1024 * 1024 + 5)) == ("10m", "8Mi")
    event = {"metadata": {"namespace": "d"}, "type": "Normal", "reason": "Started", "message": " ok ",
             "involvedObject": {"kind": "Pod", "name": "p"}, "lastTimestamp": None, "count": 1}
    assert event_row(event, all_namespaces=True)[1:] == ["<unknown>", "Normal", "Started", "Pod/p", "ok"]


def test_verbs_are_registered_and_parse() -> None:
    args = build_parser("get").parse_args(["get", "po,svc", "-o", "wide", "-A", "-l", "app=web"])
    assert (args.resources, args.output, args.all_namespaces, args.selector) == (["po,svc"], "wide", True, "app=web")
    args = build_parser("delete").parse_args(["delete", "pod", "x", "--wait=false"])
    assert args.wait is False
    args = build_parser("rollout").parse_args(["rollout", "undo", "deploy/web", "--to-revision", "2"])
    assert (args.action, args.to_revision) == ("undo", 2)

"""The static token file: parsing, the generated admin token, and its authenticator."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.apiserver.auth.authn import UserInfo
from kybernetes.apiserver.auth.tokenfile import (
    StaticTokenAuthenticator,
    TokenFileError,
    append_token,
    ensure_admin_token,
    format_token_line,
    parse_token_file,
)

TEXT = '''tok1,alice,uid-1,"dev,ops"

tok2, bob, uid-2
tok3,carol,uid-3,single
'''


def test_parse_token_file() -> None:
    assert parse_token_file(TEXT) == {
        "tok1": UserInfo(name="alice", uid="uid-1", groups=("dev", "ops")),
        "tok2": UserInfo(name="bob", uid="uid-2"),
        "tok3": UserInfo(name="carol", uid="uid-3", groups=("single",)),
    }


@pytest.mark.parametrize("text", ["tok,user\n", ",user,uid\n", "tok,,uid\n"])
def test_malformed_lines_are_refused_with_their_line(text: str) -> None:
    with pytest.raises(TokenFileError, match=r"tokens\.csv:2"):
        parse_token_file("ok,u,1\n" + text)


def test_format_round_trip() -> None:
    line = format_token_line(token="t", user="u", uid="1", groups=["a", "b"])
    assert line == 't,u,1,"a,b"\n'
    assert parse_token_file(line) == {"t": UserInfo(name="u", uid="1", groups=("a", "b"))}
    assert format_token_line(token="t", user="u", uid="1", groups=[]) == "t,u,1\n"
    with pytest.raises(ValueError):
        format_token_line(token="a,b", user="u", uid="1", groups=[])


def test_admin_token_generated_once(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    token = ensure_admin_token(path=path)
    assert len(token) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_admin_token(path=path) == token
    (user,) = parse_token_file(path.read_text()).values()
    assert user.name == "kubernetes-admin" and user.groups == ("system:masters",) and user.uid


async def test_authenticator(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(TEXT)
    authenticator = StaticTokenAuthenticator.from_file(path)

    user = await authenticator.authenticate(request_headers={"Authorization": "Bearer tok1"}, peer_cert=None)
    assert user == UserInfo(name="alice", uid="uid-1", groups=("dev", "ops", "system:authenticated"))
    # Header names are case-insensitive, the scheme too.
    user = await authenticator.authenticate(request_headers={"authorization": "bearer tok2"}, peer_cert=None)
    assert user is not None and user.name == "bob"
    assert await authenticator.authenticate(request_headers={"Authorization": "Bearer x"}, peer_cert=None) is None
    assert await authenticator.authenticate(request_headers={}, peer_cert=None) is None

    append_token(path=path, token="tok4", user="dave", uid="uid-4", groups=[])
    headers = {"Authorization": "Bearer tok4"}
    assert await authenticator.authenticate(request_headers=headers, peer_cert=None) is None
    authenticator.reload(path)
    user = await authenticator.authenticate(request_headers=headers, peer_cert=None)
    assert user is not None and user.name == "dave"


def test_missing_file_means_no_tokens(tmp_path: Path) -> None:
    authenticator = StaticTokenAuthenticator.from_file(tmp_path / "absent.csv")
    assert authenticator._by_digest == {}

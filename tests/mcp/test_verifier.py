"""The token verifier the SDK's bearer middleware calls, on its own: which token is whose, and every field of the
access token it hands the SDK (a users-file token, the single HTTP token, an OAuth JWT; anything else refused)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import service_settings
from tests.mcp.team_server import AUDIENCE, Issuer, SigningKey, serving_jwks
from veo_mcp.app import App
from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.mcp.auth import JwksKeys, JwtChecker, PrincipalToken, PrincipalVerifier
from veo_mcp.users import User, new_token, token_hash, write_users

pytestmark = pytest.mark.legacy_era  # no MCP session here: once is enough

HTTP_TOKEN = "the-single-http-token-" + "h" * 30


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with serving_jwks() as serving:
        yield serving


@pytest.fixture(scope="module")
def key(issuer: Issuer) -> SigningKey:
    signing = SigningKey("verifier-key")
    issuer.keys.append(signing.jwk)
    return signing


def verifier(tmp_path: Path, issuer: Issuer, *, with_jwt: bool = True) -> tuple[PrincipalVerifier, str]:
    """A verifier over a users file holding "alice", the single HTTP token, and (with_jwt) the test issuer."""
    token = new_token()
    users_file = tmp_path / "users.toml"
    write_users(users_file, {"alice": User(name="alice", token_sha256=token_hash(token))})
    app = App(service_settings(tmp_path, simulate=True, users_file=users_file, http_token=HTTP_TOKEN))
    checker = JwtChecker(issuer.url, AUDIENCE, JwksKeys(issuer.url + "/.well-known/jwks.json")) if with_jwt else None
    return PrincipalVerifier(app, checker), token


async def test_a_users_file_token_is_its_user(tmp_path: Path, issuer: Issuer) -> None:
    check, alice = verifier(tmp_path, issuer)
    found = await check.verify_token(f"  {alice} ")
    assert found == PrincipalToken(token=alice, client_id="alice", scopes=[], subject="alice", principal="alice")


async def test_the_single_http_token_is_the_local_user(tmp_path: Path, issuer: Issuer) -> None:
    check, _ = verifier(tmp_path, issuer)
    found = await check.verify_token(HTTP_TOKEN)
    assert found == PrincipalToken(token=HTTP_TOKEN, client_id=LOCAL_PRINCIPAL, scopes=[], principal=LOCAL_PRINCIPAL)


async def test_an_oauth_token_carries_its_claims_to_the_sdk(tmp_path: Path, issuer: Issuer, key: SigningKey) -> None:
    check, _ = verifier(tmp_path, issuer)
    expires = int(time.time()) + 600
    token = key.token(issuer.url, sub="carol", exp=expires, azp="ide-plugin", scope="videos:write videos:read")
    found = await check.verify_token(token)
    assert found == PrincipalToken(
        token=token,
        client_id="ide-plugin",
        scopes=["videos:write", "videos:read"],
        expires_at=expires,
        resource=AUDIENCE,
        subject="carol",
        claims={"iss": issuer.url},
        principal="oauth:carol",
    )


async def test_the_client_id_falls_back_to_the_claim_then_to_the_principal(
    tmp_path: Path, issuer: Issuer, key: SigningKey
) -> None:
    check, _ = verifier(tmp_path, issuer)
    with_client_id = await check.verify_token(key.token(issuer.url, sub="dave", client_id="cli-tool"))
    bare = await check.verify_token(key.token(issuer.url, sub="erin"))
    assert with_client_id is not None and with_client_id.client_id == "cli-tool" and with_client_id.scopes == []
    assert bare is not None and bare.client_id == "oauth:erin" and bare.scopes == []


async def test_other_tokens_are_refused(tmp_path: Path, issuer: Issuer, key: SigningKey) -> None:
    check, alice = verifier(tmp_path, issuer)
    assert await check.verify_token(alice + "x") is None
    assert await check.verify_token("") is None
    assert await check.verify_token("a.b") is None  # not a JWT: never sent to the checker
    assert await check.verify_token(key.token(issuer.url, aud="https://elsewhere/mcp")) is None
    without_oauth, _ = verifier(tmp_path / "plain", issuer, with_jwt=False)
    assert await without_oauth.verify_token(key.token(issuer.url)) is None  # no issuer configured: no JWT accepted


async def test_a_shared_secret_in_the_key_set_never_signs_a_token_it_accepts(tmp_path: Path, issuer: Issuer) -> None:
    """An HMAC key published in the issuer's key set (by mistake, or by whoever can change it) is public: a token
    signed with it proves nothing. Only the asymmetric algorithms are accepted, whatever the key says it is for."""
    import base64

    import jwt

    secret = b"a-shared-secret-anyone-can-read-0123456789"
    kid = "shared-hmac"
    issuer.keys.append(
        {"kty": "oct", "kid": kid, "alg": "HS256", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}
    )
    try:
        now = int(time.time())
        claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "mallory", "iat": now, "exp": now + 600}
        forged = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})
        check, _ = verifier(tmp_path, issuer)
        assert await check.verify_token(forged) is None
    finally:
        issuer.keys[:] = [entry for entry in issuer.keys if entry.get("kid") != kid]

"""Who is calling over HTTP: the bearer token names a principal, and every MCP request runs as that principal.

Built on the SDK's resource-server support (`mcp.server.auth`): `MCPServer(auth=AuthSettings(...),
token_verifier=...)` puts the SDK's bearer middleware in front of `/mcp` (401 with `WWW-Authenticate` for a missing
or refused token) and, with OAuth configured, serves the protected-resource metadata (RFC 9728) naming the issuer.
One `PrincipalVerifier` accepts three kinds of token, tried in this order:

- a users-file token (`VEO_MCP_USERS_FILE`): the principal is the user's name;
- the single `VEO_MCP_HTTP_TOKEN`: the principal is the local user (`LOCAL_PRINCIPAL`), who owns everything the stdio
  server and the CLI made, so an existing one-token setup keeps its generations;
- a JWT access token of `VEO_MCP_OAUTH_ISSUER`, checked against the issuer's JWKS (signature, `iss`, `aud`, `exp`):
  the principal is `oauth:<sub>` (a users-file name cannot hold ':', so the two never collide).

`PrincipalScope` (server middleware) then runs each MCP request inside `acting_as(principal)`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import jwt
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from veo_mcp.app import App
from veo_mcp.context import LOCAL_PRINCIPAL, OAUTH_PREFIX
from veo_mcp.mcp.principals import PrincipalToken

logger = logging.getLogger(__name__)

# Asymmetric algorithms only: a JWKS publishes public keys, and "none" or HMAC would let anyone sign.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
JWKS_REFETCH_S = 30.0  # an unknown `kid` fetches the key set again at most this often
JWKS_LIFETIME_S = 600.0  # how long a key set is trusted when its answer says nothing (Cache-Control)
JWKS_MAX_LIFETIME_S = 24 * 3600.0
LEEWAY_S = 30  # clock skew allowed on `exp`/`nbf`


class JwksKeys:
    """The issuer's signing keys, fetched with httpx and kept for their lifetime: the answer's `Cache-Control:
    max-age` (`no-store`/`no-cache`: not kept), else `JWKS_LIFETIME_S`. A key the issuer dropped stops working when
    that lifetime ends; an unknown `kid` fetches the set again (rate-limited), which is how a new key arrives. When the
    issuer cannot be reached the keys read last are kept for one more lifetime at most, then none are trusted."""

    def __init__(
        self,
        url: str,
        client: Callable[[], httpx.AsyncClient] = httpx.AsyncClient,
        refetch_after_s: float = JWKS_REFETCH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = client
        self._refetch_after_s = refetch_after_s
        self._clock = clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last attempt, answered or not
        self._read_at: float | None = None  # the last good answer
        self._lifetime_s = JWKS_LIFETIME_S
        self._lock = anyio.Lock()

    def _expired(self, now: float) -> bool:
        return self._read_at is None or now - self._read_at >= self._lifetime_s

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        if kid in self._keys and not self._expired(self._clock()):
            return self._keys[kid]
        async with self._lock:
            now = self._clock()
            unknown_due = self._fetched_at is None or now - self._fetched_at >= self._refetch_after_s
            if self._expired(now) or (kid not in self._keys and unknown_due):
                await self._fetch()
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        self._fetched_at = self._clock()
        try:
            async with self._client() as client:
                response = await client.get(self.url, timeout=10.0)
                response.raise_for_status()
                published = response.json()
                empty = isinstance(published, dict) and published.get("keys") == []  # the issuer trusts no key now
                keys = [] if empty else jwt.PyJWKSet.from_dict(published).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as error:
            logger.warning("cannot read the OAuth signing keys at %s: %s", self.url, error)
            if self._read_at is None or self._fetched_at - self._read_at >= 2 * self._lifetime_s:
                self._keys = {}  # unanswered for a whole lifetime past the keys' own: none is trusted any more
            return
        self._read_at = self._fetched_at
        self._lifetime_s = key_set_lifetime(response.headers.get("cache-control"))
        self._keys = {key.key_id: key for key in keys}
        if len(keys) == 1:
            self._keys.setdefault(None, keys[0])  # a token without `kid` may use the only key


def key_set_lifetime(cache_control: str | None) -> float:
    """How long a fetched key set may be trusted: its `max-age` (at most a day), 0 for `no-store`/`no-cache`, else
    `JWKS_LIFETIME_S`."""
    directives = [part.strip().lower() for part in (cache_control or "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age" and value.strip().strip('"').isdigit():
            return min(float(value.strip().strip('"')), JWKS_MAX_LIFETIME_S)
    return JWKS_LIFETIME_S


class JwtChecker:
    """Accepts a JWT only when the issuer's key signed it and `iss`, `aud`, `exp` (and `sub`) are as required."""

    def __init__(self, issuer: str, audience: str, keys: JwksKeys) -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys = keys

    async def principal(self, token: str) -> tuple[str, dict[str, Any]] | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None
        kid = header.get("kid")
        key = await self._keys.key(kid if isinstance(kid, str) else None)
        if key is None:
            return None
        algorithm = key.algorithm_name if key.algorithm_name in ALGORITHMS else None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm] if algorithm else list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            logger.info("OAuth token refused: %s", error)
            return None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            return None
        return OAUTH_PREFIX + subject, claims


def _sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class PrincipalVerifier:
    """The SDK's `TokenVerifier`: users-file tokens, VEO_MCP_HTTP_TOKEN, then OAuth JWTs (see the module docstring)."""

    def __init__(self, app: App, jwt_checker: JwtChecker | None = None) -> None:
        self._users = app.users
        token = app.settings.http_token
        self._single = _sha256(token.get_secret_value()) if token is not None else None
        self._jwt = jwt_checker

    async def verify_token(self, token: str) -> AccessToken | None:
        token = token.strip()  # "Bearer   <token>  ": the SDK keeps what follows "Bearer " as it is
        if self._users is not None and (user := self._users.lookup(token)) is not None:
            return PrincipalToken(token=token, client_id=user.name, scopes=[], subject=user.name, principal=user.name)
        # Compared as hashes in constant time: equal lengths, and no early exit on the first differing byte.
        if self._single is not None and hmac.compare_digest(_sha256(token), self._single):
            return PrincipalToken(token=token, client_id=LOCAL_PRINCIPAL, scopes=[], principal=LOCAL_PRINCIPAL)
        if self._jwt is not None and token.count(".") == 2:
            found = await self._jwt.principal(token)
            if found is not None:
                principal, claims = found
                return PrincipalToken(
                    token=token,
                    client_id=str(claims.get("azp") or claims.get("client_id") or principal),
                    scopes=str(claims.get("scope", "")).split(),
                    expires_at=int(claims["exp"]),
                    resource=self._jwt.audience,
                    subject=str(claims["sub"]),
                    claims={"iss": claims["iss"]},
                    principal=principal,
                )
        return None


def http_auth(app: App, resource_url: str) -> tuple[AuthSettings, PrincipalVerifier] | None:
    """The SDK auth configuration for the HTTP server; None when no token, users file or issuer is configured
    (then only loopback is served, see `http_security.require_safe_binding`).

    `resource_url` is this server's MCP endpoint as clients reach it (VEO_MCP_PUBLIC_URL + /mcp, or the bound
    address): the OAuth audience by default and the resource the protected-resource metadata describes.
    """
    settings = app.settings
    if settings.http_token is None and app.users is None and settings.oauth_issuer is None:
        return None
    checker = None
    if settings.oauth_issuer is not None and settings.jwks_url is not None:
        audience = settings.oauth_audience or resource_url
        checker = JwtChecker(settings.oauth_issuer, audience, JwksKeys(settings.jwks_url))
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(settings.oauth_issuer),
            resource_server_url=AnyHttpUrl(resource_url),
            validate_token_resource=False,  # the verifier checks `aud` itself
        )
    else:
        # Tokens only, no OAuth: the SDK requires an issuer URL, but with no resource_server_url it publishes no
        # metadata and names no issuer anywhere; the server's own address stands in.
        auth = AuthSettings(issuer_url=AnyHttpUrl(resource_url), resource_server_url=None)
    return auth, PrincipalVerifier(app, checker)

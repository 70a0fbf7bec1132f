"""DPoP for the xAI console (console-and-voice §2.3–2.4): an EC P-256 key per session, the
access token the console trades for an account's SSO cookie, and a fresh proof per request.

Pure functions and a small session record; the exchange itself (C1) is made by the console
transport, which caches one session per account (`ConsoleSessions`).
"""
from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

#: A session is renewed this long before its token expires (the spec's 20 s margin).
EXPIRY_MARGIN_SEC = 20
#: The longest lifetime the client accepts for an access token.
MAX_EXPIRES_IN = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big"))}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, compact JSON."""
    canonical = orjson.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]})
    return b64url(hashlib.sha256(canonical).digest())


def jwt_payload(token: str) -> dict[str, Any] | None:
    """The payload of a three-part JWT (the signature is not checked: the client cannot)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = orjson.loads(b64url_decode(parts[1]))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def es256_sign(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> str:
    """A JWS ES256 signature: r and s, 32 bytes each (not DER)."""
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def htu(url: str) -> str:
    """The proof's `htu`: scheme://host + path, never the query; a WebSocket URL is signed in
    its https form (the console refuses a `wss` htu)."""
    parts = urlsplit(url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path}"


class DpopRejected(Exception):
    """C1 answered 2xx with a token the client must not use (§2.3 step 3)."""


@dataclass(slots=True)
class DpopSession:
    key: ec.EllipticCurvePrivateKey
    jwk: dict[str, str]
    access_token: str
    expires_at: float  # epoch seconds
    skew: int = 0  # server clock minus ours, whole seconds (for `iat`)

    @classmethod
    def new_key(cls) -> tuple[ec.EllipticCurvePrivateKey, dict[str, str]]:
        key = ec.generate_private_key(ec.SECP256R1())
        return key, public_jwk(key)

    @classmethod
    def from_answer(cls, key: ec.EllipticCurvePrivateKey, jwk: dict[str, str],
                    body: dict[str, Any], skew: int, now: float | None = None) -> "DpopSession":
        """Checks every rule of §2.3 step 3; raises DpopRejected."""
        now = time.time() if now is None else now
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise DpopRejected("no access_token")
        if str(body.get("token_type", "")).lower() != "dpop":
            raise DpopRejected("token_type is not DPoP")
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, (int, float)) or not 0 < expires_in <= MAX_EXPIRES_IN:
            raise DpopRejected("expires_in out of range")
        payload = jwt_payload(token)
        if payload is None:
            raise DpopRejected("access_token is not a JWT")
        exp = payload.get("exp")
        cnf = payload.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if not isinstance(exp, (int, float)) or exp <= 0 or not jkt:
            raise DpopRejected("token lacks exp or cnf.jkt")
        if jkt != thumbprint(jwk):
            raise DpopRejected("token is bound to another key")
        expires_at = min(now + float(expires_in), float(exp))
        if expires_at - now <= EXPIRY_MARGIN_SEC:
            raise DpopRejected("token expires too soon")
        return cls(key, jwk, token, expires_at, skew)

    def fresh(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at - EXPIRY_MARGIN_SEC

    def proof(self, method: str, url: str, now: float | None = None) -> str:
        """A fresh ES256 proof for one request (a new `jti` each time)."""
        header = {"alg": "ES256", "typ": "dpop+jwt", "jwk": self.jwk}
        ts = int(time.time() if now is None else now) + self.skew
        claims = {"jti": str(uuid.uuid4()), "htm": method.upper(), "htu": htu(url), "iat": ts,
                  "ath": b64url(hashlib.sha256(self.access_token.encode("ascii")).digest())}
        signing_input = (b64url(orjson.dumps(header)) + "." + b64url(orjson.dumps(claims))).encode()
        return signing_input.decode() + "." + es256_sign(self.key, signing_input)


def clock_skew(date_header: str | None, sent: float, received: float) -> int:
    """Server `Date` minus the midpoint of our send and receive times, whole seconds; 0 when
    the header is missing or unreadable."""
    if not date_header:
        return 0
    from email.utils import parsedate_to_datetime
    try:
        server = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return 0
    return round(server - (sent + received) / 2)

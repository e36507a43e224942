"""OIDC ID tokens signed with the emulator's own RSA key, and the key set to verify them.

Workers verify these exactly as they verify Google's: fetch the issuer's OpenID configuration,
then its JWKS, then check signature, ``aud``, ``exp`` and ``email``.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["TokenSigner"]

_LIFETIME = 3600.0
# A cached token is reused until this close to its expiry, so workers never see a stale one.
_REFRESH_MARGIN = 300.0


class TokenSigner:
    def __init__(self, issuer: str, private_key_pem: bytes | None = None) -> None:
        self.issuer = issuer
        if private_key_pem is None:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            loaded = serialization.load_pem_private_key(private_key_pem, password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError("the emulator's signing key must be an RSA key")
            self._key = loaded
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = hashlib.sha256(public_der).hexdigest()[:40]
        # Signing costs about a millisecond; a dispatch loop must not pay it per attempt.
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}

    def private_key_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def token(self, *, audience: str, email: str, now: float) -> str:
        cached = self._cache.get((audience, email))
        if cached is not None and cached[0] - _REFRESH_MARGIN > now:
            return cached[1]
        issued = int(now)
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "azp": _subject(email),
            "sub": _subject(email),
            "email": email,
            "email_verified": True,
            "iat": issued,
            "exp": issued + int(_LIFETIME),
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})
        self._cache[(audience, email)] = (issued + _LIFETIME, token)
        return token

    def authorize(self, target: Any, *, url: str, service: dict[str, str]) -> bool:
        """Put the ``Authorization`` of a task's or a job's ``oidc_token`` into ``service`` (a
        token for its audience, or for the target's URL when it names none, as Google does);
        whether the target asks for a token of any kind."""
        kind = target.WhichOneof("authorization_header")
        if kind == "oidc_token":
            oidc = target.oidc_token
            # Stamped with the wall clock, not the (advanceable) emulator clock: the worker
            # checks iat and exp against its own.
            token = self.token(
                audience=oidc.audience or url, email=oidc.service_account_email, now=time.time()
            )
            service["Authorization"] = f"Bearer {token}"
        return kind is not None

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.key_id, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/oauth2/v3/certs",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "sub"],
        }


def _subject(email: str) -> str:
    # Google's subject is a stable numeric id per account; derive one from the email.
    return str(int(hashlib.sha256(email.encode()).hexdigest()[:16], 16))

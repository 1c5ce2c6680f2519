"""The alternative path: TAP calls Key Vault ``release`` itself (azure-keyvault-keys).

Runs the real SDK (challenge auth, HTTPS) against the fake Key Vault, with a
static token standing in for the managed identity and the test CA as the trust
store for both TLS and the signed release answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from cryptography.x509.verification import Store

import enclave
from app.store.custody import PostgresWrappedKeyStore
from enclave.azure import SkrKeyProvider, SkrTarget
from enclave.azure._keyvault import KeyVaultKekSource, verify_release_jws
from tests.enclave.conftest import AzureFakes
from tests.support.pki import TlsIdentity, sign_jws


class StaticCredential:
    """Stands in for ManagedIdentityCredential; records the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken("fake-managed-identity-token", 2**31)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


def _provider(azure: AzureFakes, database_url: str, credential: StaticCredential) -> SkrKeyProvider:
    target = SkrTarget.from_settings(azure.config(database_url, TAP_SKR_RELEASE_VIA="keyvault").skr)
    source = KeyVaultKekSource(
        target,
        credential=credential,  # type: ignore[arg-type]
        trust=Store([azure.kv.tls.ca_cert]),
        connection_verify=str(azure.kv.tls.ca_file),
    )
    return SkrKeyProvider(target, source)


async def test_release_through_key_vault_opens_the_same_dek(
    azure: AzureFakes, database_url: str, store: PostgresWrappedKeyStore
) -> None:
    credential = StaticCredential()
    dek = await _provider(azure, database_url, credential).master_key(store)
    # The sidecar path opens the DEK the Key Vault path created: one KEK, two routes.
    assert await enclave.load_key_provider(azure.config(database_url)).master_key(store) == dek
    assert credential.scopes == ["https://vault.azure.net/.default"]
    assert azure.kv.releases[0]["enc"] == "RSA_AES_KEY_WRAP_256"
    # The token Key Vault saw carries our wrapping key as runtime data.
    runtime = azure.maa.tokens[0]["x-ms-runtime"]
    assert runtime["keys"][0]["key_ops"] == ["encrypt"] and "d" not in runtime["keys"][0]


async def test_changed_hostdata_is_refused_by_key_vault(
    azure: AzureFakes, database_url: str, store: PostgresWrappedKeyStore
) -> None:
    azure.sidecar.hostdata = "cd" * 32
    with pytest.raises(enclave.CustodyError) as info:
        await _provider(azure, database_url, StaticCredential()).master_key(store)
    assert info.value.step == "keyvault.release" and "403" in str(info.value)


def test_selecting_the_key_vault_path(azure: AzureFakes, database_url: str) -> None:
    provider = enclave.load_key_provider(azure.config(database_url, TAP_SKR_RELEASE_VIA="keyvault"))
    assert isinstance(provider, SkrKeyProvider)


# -- the signed answer: every check of keyvault.jws refuses ----------------------------------


def _signed(identity: TlsIdentity, *, alg: str = "RS256", chain: bool = True) -> str:
    from tests.support.pki import der_b64

    header: dict[str, Any] = {"alg": alg}
    if chain:
        header["x5c"] = [der_b64(identity.leaf_cert), der_b64(identity.ca_cert)]
    return sign_jws(header, {"request": {}, "response": {}}, identity.leaf_key)


@pytest.mark.parametrize(
    ("case", "hint"),
    [
        ("untrusted-root", "not a trusted certificate"),
        ("wrong-host", "not a trusted certificate"),
        ("tampered", "does not verify"),
        ("alg-none", "not RS256"),
        ("no-chain", "no x5c"),
        ("garbage", "not a compact JWS"),
    ],
)
def test_release_answer_is_verified_before_it_is_trusted(
    azure: AzureFakes, case: str, hint: str
) -> None:
    identity = azure.kv.tls
    trust = Store([identity.ca_cert])
    host = "localhost"
    jws = _signed(identity)
    if case == "untrusted-root":
        other = azure.kv.directory / "other-ca"
        other.mkdir()
        trust = Store([TlsIdentity.create(other).ca_cert])
    elif case == "wrong-host":
        host = "evil.vault.azure.net"
    elif case == "tampered":
        head, payload, sig = jws.split(".")
        forged = base64.urlsafe_b64encode(json.dumps({"request": {"x": 1}}).encode()).rstrip(b"=")
        jws = f"{head}.{forged.decode()}.{sig}"
    elif case == "alg-none":
        jws = _signed(identity, alg="none")
    elif case == "no-chain":
        jws = _signed(identity, chain=False)
    else:
        jws = "not-a-jws"
    with pytest.raises(enclave.CustodyError) as info:
        verify_release_jws(jws, vault_host=host, trust=trust, now=dt.datetime.now(dt.UTC))
    assert info.value.step == "keyvault.jws"
    assert hint in str(info.value)

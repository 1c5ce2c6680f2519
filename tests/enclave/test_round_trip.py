"""Credentials sealed in env mode survive the move into enclave custody (issue 5, Done when).

env-mode tap-proxy seals a credential -> ``tap enclave migrate-from-env`` wraps
the env key as the DEK under the KEK -> enclave-mode tap-proxy (no env key)
forwards with that credential -> any other KEK cannot open it -> KEK rotation
with ``tap enclave rewrap-dek`` keeps the same DEK. Also ``GET /attestation``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from app.crypto import key_fingerprint
from attestation import Origin, SigningKeys, verify_token
from enclave.azure import private_jwk
from tests.enclave._boot import enclave_env, start_enclave_proxy, startup_failure
from tests.enclave.conftest import HOSTDATA, KEY_NAME, AzureFakes
from tests.support.loopback import Reply
from tests.support.pki import rsa_key
from tests.support.proxy import TEST_KEY
from tests.support.tap import Tap, start_tap
from tests.support.upstream import Upstream
from tools.cli import main as cli_main

SECRET = "sk-live-enclave-RoundTrip-0123456789"
FINGERPRINT = key_fingerprint(bytes.fromhex(TEST_KEY))


def _cli(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli_main, list(args), env=env, catch_exceptions=False)


def _jwk_file(tmp: Path, azure: AzureFakes, version: str, name: str = "kek.json") -> Path:
    # What `az keyvault key show` gives the operator: {"key": {kid, kty, n, e, ...}}.
    path = tmp / name
    path.write_text(json.dumps({"key": azure.kv.public_jwk(KEY_NAME, version)}))
    return path


def _forward(url: str, agent_key: str, upstream: Upstream) -> None:
    response = httpx.post(
        url + "/forward",
        headers={
            "X-TAP-Key": agent_key,
            "X-TAP-Credential": "demo",
            "X-TAP-Target": upstream.url + "/v1",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert SECRET in upstream.received[-1].headers.get("Authorization", "") + json.dumps(
        upstream.received[-1].headers
    )


def test_env_deployment_moves_into_enclave_custody(
    tmp_path: Path, database_url: str, azure: AzureFakes
) -> None:
    upstream = Upstream().start()
    try:
        # 1. A plain env-key deployment: seal a credential, make an agent.
        tap: Tap = start_tap(tmp_path, database_url)
        tap.add_credential("demo", SECRET, "--allowed-host", "127.0.0.1")
        agent_key = tap.agent("bot", "--credentials", "demo")
        _forward(tap.url, agent_key, upstream)
        # Without the feature there is no attestation endpoint.
        missing = httpx.get(tap.url + "/attestation?nonce=" + "ab" * 16)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert tap.proxy.stop() == 0

        env_cli = {"POSTGRES_DATABASE_URL": database_url, "TAP_ENCRYPTION_KEY": TEST_KEY}
        enclave_cli = {"POSTGRES_DATABASE_URL": database_url, **azure.env()}

        # 2. A JWK with a private member is refused; nothing is stored.
        private = tmp_path / "private.json"
        private.write_text(json.dumps(private_jwk(rsa_key())))
        refused = _cli(
            "enclave",
            "migrate-from-env",
            "--kek-public-jwk",
            str(private),
            "--kek-id",
            azure.kid,
            env=env_cli,
        )
        assert refused.exit_code == 1 and "private members" in refused.output

        # 3. Migrate: the env key becomes the DEK, wrapped under the KEK.
        migrated = _cli(
            "enclave",
            "migrate-from-env",
            "--kek-public-jwk",
            str(_jwk_file(tmp_path, azure, azure.version)),
            env=env_cli,
        )
        assert migrated.exit_code == 0, migrated.output
        assert f"DEK fingerprint {FINGERPRINT} stored, wrapped under {azure.kid}" in migrated.output
        again = _cli(
            "enclave",
            "migrate-from-env",
            "--kek-public-jwk",
            str(_jwk_file(tmp_path, azure, azure.version)),
            env=env_cli,
        )
        assert again.exit_code == 1 and "already stored" in again.output

        # 4. Enclave mode, no env key: the credential is readable.
        proxy = start_enclave_proxy(tmp_path, database_url, azure)
        try:
            _forward(proxy.url, agent_key, upstream)
            assert f"DEK {FINGERPRINT} opened with KEK {azure.kid}" in proxy.log()
            assert f"fingerprint {FINGERPRINT}" in proxy.log()
            # /attestation: a fresh MAA token bound to our nonce and this group's hostdata.
            nonce = secrets.token_hex(32)
            token = httpx.get(proxy.url + "/attestation", params={"nonce": nonce}).json()["token"]
            keys = SigningKeys.from_jwks(
                azure.maa.jwks(), origin=Origin.parse(azure.maa.issuer), jwks_uri=None
            )
            verified = verify_token(
                token,
                keys=keys,
                allowed_hostdata={HOSTDATA},
                nonce=nonce,
                now=dt.datetime.now(dt.UTC),
            )
            assert verified.hostdata == HOSTDATA
            for bad in ("short", "x" * 200, "not hex!" * 4, ""):
                reply = httpx.get(proxy.url + "/attestation", params={"nonce": bad})
                assert reply.status_code == 400 and reply.json()["error"] == "invalid_nonce"
        finally:
            assert proxy.stop() == 0, proxy.log()

        fingerprint = _cli("enclave", "fingerprint", env=enclave_cli)
        assert fingerprint.exit_code == 0, fingerprint.output
        assert f"key fingerprint: {FINGERPRINT}" in fingerprint.output
        assert (
            f"stored DEK: fingerprint {FINGERPRINT}, wrapped under {azure.kid}"
            in fingerprint.output
        )

        # 5. Any other KEK cannot open the DEK.
        azure.sidecar.override = Reply.json(
            200, {"key": json.dumps(private_jwk(rsa_key(), kty="RSA-HSM"))}
        )
        code, log = startup_failure(tmp_path, enclave_env(tmp_path, database_url, azure))
        assert code == 1 and "key custody failed at dek.unwrap" in log, log
        azure.sidecar.override = None

        # 6. KEK rotation: re-wrap under a new key version, install, boot with it.
        new_version = azure.new_version()
        new_kid = azure.kv.kid(KEY_NAME, new_version)
        code, log = startup_failure(
            tmp_path, enclave_env(tmp_path, database_url, azure, version=new_version)
        )
        assert code == 1 and "key custody failed at dek.kek" in log, log
        rewrap = _cli(
            "enclave",
            "rewrap-dek",
            "--install",
            "--kek-public-jwk",
            str(_jwk_file(tmp_path, azure, new_version, "new.json")),
            env=enclave_cli,
        )
        assert rewrap.exit_code == 0, rewrap.output
        assert f"old fingerprint: {FINGERPRINT}" in rewrap.output
        assert f"new fingerprint: {FINGERPRINT}" in rewrap.output
        assert json.loads(rewrap.output.strip().splitlines()[-1])["kid"] == new_kid
        proxy = start_enclave_proxy(tmp_path, database_url, azure, version=new_version)
        try:
            _forward(proxy.url, agent_key, upstream)
        finally:
            assert proxy.stop() == 0, proxy.log()
    finally:
        upstream.stop()

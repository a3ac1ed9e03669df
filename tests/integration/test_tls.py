"""TLS on both edges, with a throwaway CA (trustme): the client trusts it, a plain client fails."""

from __future__ import annotations

import asyncio
import os
import ssl

import httpx
import pytest
import trustme

from router.client import RouterClient
from tests.helpers.server import running_router


def test_grpc_and_http_over_tls(sqlite_url: str, tmp_path: object) -> None:
    folder = str(tmp_path)
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    ca_file = os.path.join(folder, "ca.pem")
    cert_file = os.path.join(folder, "server.pem")
    key_file = os.path.join(folder, "server.key")
    authority.cert_pem.write_to_path(ca_file)
    certificate.cert_chain_pems[0].write_to_path(cert_file)
    certificate.private_key_pem.write_to_path(key_file)

    async def story(address: str) -> None:
        async with RouterClient(address, tls=ca_file) as client:
            await client.create_exchange("orders", ["order.*"])
            assert [e.name for e in await client.list_exchanges()] == ["orders"]
        async with RouterClient(address, tls=False) as plain:
            with pytest.raises(Exception):  # noqa: B017 - a TLS port refuses cleartext, however it says so
                await asyncio.wait_for(plain.list_exchanges(), 10)

    with running_router(
        sqlite_url, folder, "--tls-cert", cert_file, "--tls-key", key_file
    ) as router:
        asyncio.run(story(router.address))
        https = router.http.replace("http://", "https://")
        trusted = ssl.create_default_context(cafile=ca_file)
        assert httpx.get(f"{https}/healthz", verify=trusted).json() == {"status": "ok"}
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{https}/healthz")  # not trusted without the CA
        assert "tls=on" in router.log()

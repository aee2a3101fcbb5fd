"""Clients and raw requests for the simulator and the v3 routes: recorders, scripted answers."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import requests
import urllib3

from avepoint_simulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ELEMENTS_SCOPES,
    PARTNER_SCOPES,
    Simulator,
)
from exporter import config
from exporter.upstream import Client

ALL_SCOPES = " ".join(PARTNER_SCOPES)


def token_response(sim: Simulator, **form: str) -> requests.Response:
    data = {"grant_type": "client_credentials", "scope": ALL_SCOPES, **form}
    return requests.post(sim.token_url, data=data, timeout=5)


def get_token(sim: Simulator, scope: str = ALL_SCOPES) -> str:
    response = token_response(sim, client_id="demo", client_secret="demo-secret", scope=scope)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


def session(sim: Simulator, scope: str = ALL_SCOPES) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {get_token(sim, scope)}"
    return s


def get(s: requests.Session, sim: Simulator, path: str, timeout: float = 5) -> requests.Response:
    return s.get(f"{sim.base_url}{path}", timeout=timeout)


NOW = 1_760_000_000.0


V3 = "/partner/external/v3/general"


ALL_V3 = " ".join(ELEMENTS_SCOPES)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def observe(self, endpoint: str, code: str, seconds: float) -> None:
        self.requests.append((endpoint, code))

    def sleep(self, seconds: float) -> None:
        pass


def token(sim: Simulator, scope: str = ALL_V3) -> str:
    form = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret", "scope": scope}
    response = requests.post(sim.token_url, data=form, timeout=5)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def http(sim: Simulator, scope: str = ALL_V3) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token(sim, scope)}"
    return s


def post(s: requests.Session, sim: Simulator, path: str, body: object = None, **kwargs: Any) -> requests.Response:
    if body is not None:
        kwargs["json"] = body
    return s.post(f"{sim.base_url}{V3}{path}", timeout=5, **kwargs)


def jobs_path(customer_id: str) -> str:
    return f"/customers/{customer_id}/avpt-products/jobs/batch"


def make_client(sim: Simulator, rec: Recorder | None = None, **api: object) -> Client:
    rec = rec or Recorder()
    api_cfg = replace(
        config.ApiConfig(
            base_url=sim.base_url, token_url=sim.token_url, version="v3", timeout=5.0, max_requests_per_second=1000
        ),
        **api,  # type: ignore[arg-type]
    )
    auth = config.AuthConfig(
        client_id=DEMO_CLIENT_ID,
        client_secret=config.Secret(DEMO_CLIENT_SECRET),
        scopes=config.default_scopes("v3", config.EndpointsConfig(protected=True, services=True)),
    )
    return Client(api_cfg, auth, observe=rec.observe, sleep=rec.sleep)


class Scripted(requests.adapters.BaseAdapter):
    """A transport answering from a function of (method, url, body): for shapes no simulator sends."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    def send(  # noqa: PLR0917 - requests' own signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        assert request.url is not None and request.method is not None
        self.calls.append((request.method, request.url))
        if request.url.endswith("/token"):
            payload: object = {"access_token": "t", "expires_in": 3600}
        else:
            payload = self.answer(request.method, request.url)
        response = requests.Response()
        response.status_code = 200
        # A real urllib3 response over a buffer, as HTTPAdapter would hand over (the client reads with read1).
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(json.dumps(payload).encode()), status=200, preload_content=False
        )
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def scripted_client(answer: Any) -> tuple[Client, Scripted]:
    session = requests.Session()
    transport = Scripted(answer)
    session.mount("http://scripted.test/", transport)
    api = config.ApiConfig(
        base_url="http://scripted.test", token_url="http://scripted.test/token", version="v3", retries=0
    )
    auth = config.AuthConfig(client_id="a", client_secret=config.Secret("b"), scopes=config.V3_SCOPES)
    return Client(api, auth, session=session), transport

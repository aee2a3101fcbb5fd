"""What the process environment says about reaching a URL: its proxy (HTTP(S)_PROXY, NO_PROXY) and the CA bundle.

The environment is passed in (the command line passes os.environ), never read here: what requests and
urllib would look up in os.environ is looked up in the mapping given, by the same rules.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from requests.utils import address_in_network, is_ipv4_address, is_valid_cidr


def ca_bundle(ca_file: str | None, env: Mapping[str, str]) -> bool | str:
    """What requests verifies TLS with: api.ca_file, else REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, else its own."""
    return ca_file or env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or True


def proxies_for(url: str, env: Mapping[str, str]) -> dict[str, str]:
    """requests.utils.get_environ_proxies(url), with `env` in place of os.environ."""
    proxies = _environment_proxies(env)
    return {} if _bypass(url, env, proxies) else proxies


def _environment_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """urllib.request.getproxies_environment() of `env`: `<scheme>_proxy`, lower case winning over upper."""
    proxies: dict[str, str] = {}
    for name, value in env.items():
        if value and name.lower()[-6:] == "_proxy":
            proxies[name.lower()[:-6]] = value
    # CVE-2016-1000110: a CGI request sets HTTP_PROXY from its Proxy header; urllib ignores it then.
    if "REQUEST_METHOD" in env:
        proxies.pop("http", None)
    for name, value in env.items():
        if name[-6:] == "_proxy":
            if value:
                proxies[name[:-6]] = value
            else:
                proxies.pop(name[:-6], None)
    return proxies


def _bypass(url: str, env: Mapping[str, str], proxies: Mapping[str, str]) -> bool:
    """requests.utils.should_bypass_proxies(url, None) on Linux, without its look into os.environ."""
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY")
    parsed = urlsplit(url)
    hostname = parsed.hostname
    if hostname is None:
        return True
    if no_proxy:
        hosts = [host for host in no_proxy.replace(" ", "").split(",") if host]
        if is_ipv4_address(hostname):
            for proxy_ip in hosts:
                if is_valid_cidr(proxy_ip):
                    if address_in_network(hostname, proxy_ip):
                        return True
                elif hostname == proxy_ip:
                    return True
        else:
            host_with_port = hostname + (f":{parsed.port}" if parsed.port else "")
            for host in hosts:
                name = host.lstrip(".")
                if name in (hostname, host_with_port):
                    return True
                if hostname.endswith("." + name) or host_with_port.endswith("." + name):
                    return True
    try:
        # Public in urllib (requests calls it through proxy_bypass) but missing from typeshed.
        return bool(urllib.request.proxy_bypass_environment(hostname, dict(proxies)))  # type: ignore[attr-defined]
    except (TypeError, socket.gaierror):
        return False

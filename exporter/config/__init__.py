"""Configuration: the frozen schema, one loader for the main and the web config, secret files."""

from exporter.config.document import read_yaml
from exporter.config.loader import ENV_PREFIX, env_names, from_mapping, load, size_bytes
from exporter.config.schema import (
    DEFAULT_LISTEN_ADDRESS,
    ApiConfig,
    AuthConfig,
    CacheConfig,
    Config,
    CustomersConfig,
    EndpointsConfig,
    IntervalOverride,
    JobsConfig,
    JobSelector,
    ScanProfilesConfig,
    WebConfig,
)
from exporter.config.scopes import API_VERSIONS, ENDPOINT_SCOPES, LEGACY_SCOPES, V3_SCOPES, default_scopes
from exporter.config.secrets import Secret
from exporter.config.web import WebSecurity

__all__ = [
    "API_VERSIONS",
    "DEFAULT_LISTEN_ADDRESS",
    "ENDPOINT_SCOPES",
    "ENV_PREFIX",
    "LEGACY_SCOPES",
    "V3_SCOPES",
    "ApiConfig",
    "AuthConfig",
    "CacheConfig",
    "Config",
    "CustomersConfig",
    "EndpointsConfig",
    "IntervalOverride",
    "JobSelector",
    "JobsConfig",
    "ScanProfilesConfig",
    "Secret",
    "WebConfig",
    "WebSecurity",
    "default_scopes",
    "env_names",
    "from_mapping",
    "load",
    "read_yaml",
    "size_bytes",
]

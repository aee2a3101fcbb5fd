"""Config loading: defaults, environment overrides, secret files, strict validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter import config
from exporter.config import Config, IntervalOverride, JobSelector, Secret
from exporter.errors import ConfigError
from exporter.model import Outcome
from tests.support import make_cert, write

MINIMAL = "auth:\n  client_id: app\n  client_secret: s3cret-value\n"


def test_minimal_file_gets_documented_defaults(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, MINIMAL), env={})
    assert cfg.api.base_url == "https://graph.avepointonlineservices.com"
    assert cfg.api.token_url == "https://identity.avepointonlineservices.com/connect/token"
    assert cfg.api.timeout == 10
    assert cfg.api.max_concurrency == 8
    assert cfg.api.max_requests_per_second == 10
    assert cfg.api.retries == 3
    assert cfg.auth.scopes == ("partner.customers.read.all", "partner.jobs.read.all")
    assert cfg.auth.method == "client_secret"
    assert cfg.cache.ttl == 300
    assert cfg.jobs.expected_interval == 86400
    assert cfg.web.listen_address == ":9877"
    assert cfg.state_file == ""


def test_full_file(tmp_path: Path) -> None:
    text = """
api:
  base_url: https://graph-de.avepointonlineservices.com
  token_url: https://identity.example.test/connect/token
  timeout: 30s
  max_concurrency: 4
  max_requests_per_second: 2.5
  retries: 5
auth:
  client_id: app
  client_secret: x
  scopes: [partner.customers.read.all]
customers:
  include: [a, b]
  exclude: [b]
jobs:
  select:
    - {job_type: Microsoft 365, job_module: SharePoint Online}
  expected_interval: 2d
  expected_interval_overrides:
    - {job_type: Microsoft 365, interval: 12h}
    - {customer_id: a, job_type: Microsoft 365, job_module: SharePoint Online, interval: 1h}
  status_outcomes:
    "Completed With Issues": warning
cache:
  ttl: 1m
state_file: /tmp/state.json
web:
  listen_address: 127.0.0.1:9999
"""
    cfg = config.load(write(tmp_path, text), env={})
    assert cfg.api.timeout == 30
    assert cfg.api.max_requests_per_second == 2.5
    assert cfg.customers.wanted("a") and not cfg.customers.wanted("b") and not cfg.customers.wanted("c")
    assert cfg.jobs.select == (JobSelector("Microsoft 365", "SharePoint Online"),)
    assert cfg.jobs.expected_interval == 2 * 86400
    assert cfg.jobs.expected_interval_for("a", "Microsoft 365", "SharePoint Online") == 3600
    assert cfg.jobs.expected_interval_for("z", "Microsoft 365", "SharePoint Online") == 12 * 3600
    assert cfg.jobs.expected_interval_for("a", "Google Workspace", "Gmail") == 2 * 86400
    assert cfg.jobs.status_outcomes == {"completed with issues": Outcome.WARNING}
    assert cfg.cache.ttl == 60
    assert cfg.web.listen_address == "127.0.0.1:9999"


def test_environment_overrides_every_kind_of_key(tmp_path: Path) -> None:
    env = {
        "AVEPOINT_API_BASE_URL": "http://127.0.0.1:1",
        "AVEPOINT_API_RETRIES": "7",
        "AVEPOINT_API_TIMEOUT": "5s",
        "AVEPOINT_AUTH_CLIENT_ID": "from-env",
        "AVEPOINT_AUTH_SCOPES": "one,two three",
        "AVEPOINT_CUSTOMERS_EXCLUDE": "x",
        "AVEPOINT_JOBS_SELECT": "[{job_type: Salesforce, job_module: Salesforce}]",
        "AVEPOINT_JOBS_STATUS_OUTCOMES": "{Odd: failed}",
        "AVEPOINT_STATE_FILE": "/var/lib/x.json",
        "PATH": "/usr/bin",  # not ours: ignored
    }
    cfg = config.load(write(tmp_path, MINIMAL), env=env)
    assert cfg.api.base_url == "http://127.0.0.1:1"
    assert cfg.api.retries == 7
    assert cfg.api.timeout == 5
    assert cfg.auth.client_id == "from-env"
    assert cfg.auth.scopes == ("one", "two", "three")
    assert cfg.customers.exclude == ("x",)
    assert cfg.jobs.select == (JobSelector("Salesforce", "Salesforce"),)
    assert cfg.jobs.status_outcomes == {"odd": Outcome.FAILED}
    assert cfg.state_file == "/var/lib/x.json"


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    env = {"AVEPOINT_AUTH_CLIENT_ID": "a", "AVEPOINT_AUTH_CLIENT_SECRET": "b"}
    cfg = config.load(write(tmp_path, ""), env=env)
    assert cfg.auth.client_secret == Secret("b")


def test_every_leaf_key_has_an_environment_name() -> None:
    names = config.env_names()
    assert names["AVEPOINT_AUTH_CLIENT_SECRET_FILE"] == "auth.client_secret_file"
    assert names["AVEPOINT_JOBS_EXPECTED_INTERVAL_OVERRIDES"] == "jobs.expected_interval_overrides"
    assert "AVEPOINT_AUTH_PRIVATE_KEY_PEM" not in names  # internal, filled from the key file


def test_secret_file_is_read_relative_to_the_config_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("file-secret\n")
    cfg = config.load(write(tmp_path, "auth:\n  client_id: a\n  client_secret_file: secret\n"), env={})
    assert cfg.auth.client_secret == Secret("file-secret")


def test_secret_never_shows_in_repr(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, MINIMAL), env={})
    assert "s3cret-value" not in repr(cfg)
    assert "s3cret-value" not in str(cfg.auth.client_secret)
    assert f"{cfg.auth.client_secret}" == "Secret('********')"


def test_certificate_auth(tmp_path: Path) -> None:
    key_path, cert_path, _ = make_cert(tmp_path)
    text = f"auth:\n  client_id: a\n  private_key_file: {key_path}\n  certificate_file: {cert_path}\n"
    cfg = config.load(write(tmp_path, text), env={})
    assert cfg.auth.method == "certificate"
    assert len(cfg.auth.certificate_thumbprint) == 40
    assert cfg.auth.private_key_pem is not None
    assert "PRIVATE KEY" not in repr(cfg)


# Bad configs as files (as blackbox_exporter's testdata/invalid-*.yml), each with the exact message a user
# sees. Loaded from their folder, so the messages that name the file name it as given: no temporary path.
TESTDATA = Path(__file__).parent / "testdata"
BAD_CONFIGS = {
    # The file's shape
    "invalid-yaml-syntax.yml": (
        "config file invalid-yaml-syntax.yml: YAML syntax error at line 3, column 2: "
        "expected <block end>, but found '<block mapping start>'"
    ),
    "invalid-top-level-list.yml": (
        "config file invalid-top-level-list.yml: the top level must be a mapping of keys, not a list"
    ),
    "invalid-section-not-mapping.yml": "api: must be a mapping, not a list",
    "invalid-unknown-key.yml": (
        "unknown key bogus (known here: api, auth, cache, customers, endpoints, jobs, scan_profiles, state_file, "
        "state_retention, web)"
    ),
    "invalid-unknown-key-in-section.yml": (
        "unknown key auth.colour (known here: certificate_file, certificate_thumbprint, client_id, client_secret, "
        "client_secret_file, private_key_file, scopes)"
    ),
    "invalid-unknown-key-in-list-item.yml": "unknown key jobs.select[0].module (known here: job_module, job_type)",
    "invalid-unknown-endpoint.yml": (
        "unknown key endpoints.licences (known here: jobs, protected, scan_profiles, seat_tenant_types, services)"
    ),
    "invalid-selector-required.yml": "jobs.select[0].job_module: required",
    "invalid-override-interval-required.yml": "jobs.expected_interval_overrides[0].interval: required",
    # Types
    "invalid-integer.yml": "api.retries: must be an integer, not 'many'",
    "invalid-integer-fraction.yml": "api.retries: must be an integer, not 1.5",
    "invalid-number-not-finite.yml": "api.max_requests_per_second: must be a finite number, not inf",
    "invalid-boolean.yml": "endpoints.services: must be true or false, not 'yes please'",
    "invalid-string.yml": "web.listen_address: must be a string, not int",
    "invalid-list.yml": "customers.include: must be a list, not a string",
    "invalid-status-outcomes-not-mapping.yml": (
        "jobs.status_outcomes: must be a mapping of status to outcome, not a list"
    ),
    "invalid-status-outcome.yml": (
        "jobs.status_outcomes.X: outcome must be one of success, warning, failed, running, canceled, not_run, "
        "unknown, not 'great'"
    ),
    # Durations and sizes (config's own grammar: the API's 01:00:00 is refused)
    "invalid-duration.yml": "api.timeout: must be a positive duration like 30s, 5m, 24h or 7d, not 'soon'",
    "invalid-duration-zero.yml": "api.timeout: must be a positive duration like 30s, 5m, 24h or 7d, not '0s'",
    "invalid-duration-api-syntax.yml": "cache.ttl: must be a positive duration like 30s, 5m, 24h or 7d, not '01:00:00'",
    "invalid-size.yml": (
        "api.max_response_size: must be a positive size like 512KiB, 32MiB or 1GiB (or bytes), not '16 megabytes'"
    ),
    # Values
    "invalid-retries-negative.yml": "api.retries: must be at least 0, not -1",
    "invalid-max-concurrency.yml": "api.max_concurrency: must be at least 1, not 0",
    "invalid-request-rate.yml": "api.max_requests_per_second: must be greater than 0",
    "invalid-max-connections.yml": "web.max_connections: must be at least 1, not 0",
    "invalid-auth-failures-per-minute.yml": "web.auth_failures_per_minute: must be at least 1, not 0",
    "invalid-scan-profiles-max.yml": "scan_profiles.max_per_customer: must be at least 1, not 0",
    "invalid-url.yml": "api.base_url: must be an http(s) URL, not 'ftp://x'",
    # The URL's user info and query are left out: they may hold a credential.
    "invalid-url-credential.yml": "api.token_url: must be an http(s) URL, not 'ftp://identity.example/connect/token'",
    "invalid-api-version.yml": "api.version: must be one of legacy, v3, not 'v9'",
    "invalid-api-version-case.yml": "api.version: must be one of legacy, v3, not 'V3'",
    "invalid-v3-job-type.yml": (
        "jobs.select[0].job_type: 'Gmail' has no v3 code; use a number or one of: Microsoft 365 Scan, Microsoft 365, "
        "Google Workspace Scan, Google Workspace, IaaS + PaaS, Salesforce, Dynamics 365"
    ),
    "invalid-v3-job-module.yml": (
        "jobs.select[0].job_module: 'OneDrive for Work' has no v3 code; use a number or one of: None, Archiver, "
        "Retention, SharePoint Online, Exchange Online, Microsoft 365 Groups, OneDrive, Project Online, "
        "Exchange Online Public Folder, Microsoft Teams, Teams Chat, Power BI, Power Automate, Power Apps, "
        "Cloud Backup for Azure, Azure Virtual Machine, Disk, Microsoft Entra ID, Storage, Admin Portal Settings, "
        "Amazon EC2, Native Azure SQL Backup Monitoring, Dev Ops, Microsoft Entra ID B2C, Azure SQL Backup, "
        "Google Virtual Machine Instance, Azure VMware Solution, Microsoft SQL Server in Azure VM, "
        "Google Cloud Storage, Cosmos DB, Azure PostgreSQL, Dynamics 365, Viva Engage, Gmail, Calendar, Contacts, "
        "Drive, Shared Drives, Google Classroom, Chat, Google Directory, Dynamics CRM Backup, "
        "Dynamics Unified Operations Backup"
    ),
    # Credentials
    "invalid-client-id-missing.yml": "auth.client_id: required",
    "invalid-scopes-empty.yml": "auth.scopes: must name at least one scope",
    "invalid-no-credential.yml": "auth: set exactly one of client_secret, client_secret_file or private_key_file",
    "invalid-two-credentials.yml": (
        "auth: set exactly one of client_secret, client_secret_file or private_key_file "
        "(found client_secret, client_secret_file)"
    ),
    "invalid-thumbprint-without-key.yml": "auth: certificate_file and certificate_thumbprint need private_key_file",
    "invalid-secret-file-missing.yml": (
        "auth.client_secret_file: cannot read /nonexistent/secret: No such file or directory"
    ),
    "invalid-secret-file-name.yml": "auth.client_secret_file: not a usable file name",
}


@pytest.mark.parametrize(("name", "message"), BAD_CONFIGS.items())
def test_load_bad_configs(monkeypatch: pytest.MonkeyPatch, name: str, message: str) -> None:
    monkeypatch.chdir(TESTDATA)
    with pytest.raises(ConfigError) as info:
        config.load(name, env={})
    assert str(info.value) == message
    assert "s3cret-value" not in str(info.value)  # the fixtures' secret, never echoed


def test_every_bad_config_file_has_its_message() -> None:
    files = {p.name for p in TESTDATA.glob("invalid-*.yml")} - {p.name for p in TESTDATA.glob("invalid-web-*.yml")}
    assert files == set(BAD_CONFIGS)


def test_an_empty_section_means_its_defaults(tmp_path: Path) -> None:
    """`api:` with every key under it commented out, as the web config's `tls_server_config:` already is."""
    cfg = config.load(write(tmp_path, MINIMAL + "api:\ncache:\n"), env={"AVEPOINT_API_RETRIES": "5"})
    assert cfg.api == config.ApiConfig(retries=5)
    assert cfg.cache == config.CacheConfig()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        config.load(tmp_path / "nope.yml", env={})


def test_empty_secret_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("\n")
    with pytest.raises(ConfigError, match=r"auth.client_secret_file: .* is empty"):
        config.load(write(tmp_path, "auth: {client_id: a, client_secret_file: secret}\n"), env={})


def test_unknown_environment_variable_in_our_namespace(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AVEPOINT_AUTH_CLIENTID does not name a config key"):
        config.load(write(tmp_path, MINIMAL), env={"AVEPOINT_AUTH_CLIENTID": "x"})


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^AVEPOINT_API_RETRIES: api\.retries: must be an integer"):
        config.load(write(tmp_path, MINIMAL), env={"AVEPOINT_API_RETRIES": "lots"})
    with pytest.raises(ConfigError, match=r"^AVEPOINT_CACHE_TTL: cache\.ttl: must be a positive duration"):
        config.load(write(tmp_path, MINIMAL), env={"AVEPOINT_CACHE_TTL": "1.16:00:44"})
    with pytest.raises(
        ConfigError, match=r"^AVEPOINT_API_MAX_RESPONSE_SIZE: api\.max_response_size: must be a positive"
    ):
        config.load(write(tmp_path, MINIMAL), env={"AVEPOINT_API_MAX_RESPONSE_SIZE": "lots"})


def test_private_key_that_does_not_parse(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    text = "auth: {client_id: a, private_key_file: key.pem, certificate_thumbprint: " + "ab" * 20 + "}\n"
    with pytest.raises(ConfigError, match=r"auth\.private_key_file: not an unencrypted PEM private key"):
        config.load(write(tmp_path, text), env={})


def test_certificate_that_does_not_match_the_key(tmp_path: Path) -> None:
    key_path, _, _ = make_cert(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_cert, _ = make_cert(other)
    text = f"auth: {{client_id: a, private_key_file: {key_path}, certificate_file: {other_cert}}}\n"
    with pytest.raises(ConfigError, match="does not match private_key_file"):
        config.load(write(tmp_path, text), env={})


def test_key_without_certificate_or_thumbprint(tmp_path: Path) -> None:
    key_path, _, _ = make_cert(tmp_path)
    with pytest.raises(ConfigError, match="needs certificate_file or certificate_thumbprint"):
        config.load(write(tmp_path, f"auth: {{client_id: a, private_key_file: {key_path}}}\n"), env={})


def test_most_specific_interval_override_wins() -> None:
    jobs = config.JobsConfig(
        expected_interval=100,
        expected_interval_overrides=(
            IntervalOverride(interval=1, job_module="Gmail"),
            IntervalOverride(interval=2, customer_id="c", job_module="Gmail"),
        ),
    )
    assert jobs.expected_interval_for("c", "Google Workspace", "Gmail") == 2
    assert jobs.expected_interval_for("d", "Google Workspace", "Gmail") == 1
    assert jobs.expected_interval_for("c", "Google Workspace", "Drive") == 100


def test_config_is_frozen() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.state_file = "x"  # type: ignore[misc]


# --- API version, endpoint groups and their scopes ------------------------------------------------

LEGACY_ALL = (
    "partner.customers.read.all",
    "partner.jobs.read.all",
    "partner.cbprotected.read.all",
    "partner.license.read.all",
)
V3_ALL = tuple(scope.replace("partner.", "elements.") for scope in LEGACY_ALL)


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("", LEGACY_ALL[:2]),
        ("api: {version: legacy}\n", LEGACY_ALL[:2]),
        ("api: {version: v3}\n", V3_ALL[:2]),
        ("endpoints: {protected: true}\n", LEGACY_ALL[:3]),
        ("endpoints: {services: true}\n", (*LEGACY_ALL[:2], LEGACY_ALL[3])),
        ("api: {version: v3}\nendpoints: {protected: true, services: true}\n", V3_ALL),
        ("api: {version: v3}\nendpoints: {jobs: false, services: true}\n", (V3_ALL[0], V3_ALL[3])),
        ("endpoints: {jobs: false}\n", LEGACY_ALL[:1]),
        # Set by the user, scopes are theirs: nothing is added or dropped.
        ("endpoints: {services: true}\nauth: {scopes: [partner.customers.read.all]}\n", LEGACY_ALL[:1]),
        ("api: {version: v3}\nauth: {scopes: [partner.customers.read.all, x]}\n", ("partner.customers.read.all", "x")),
    ],
)
def test_default_scopes_follow_version_and_endpoints(tmp_path: Path, text: str, scopes: tuple[str, ...]) -> None:
    auth = "auth: {client_id: app, client_secret: s}\n"
    if "auth:" in text:
        head, _, tail = text.partition("auth: {")
        text = head + "auth: {client_id: app, client_secret: s, " + tail
        auth = ""
    cfg = config.load(write(tmp_path, auth + text), env={})
    assert cfg.auth.scopes == scopes


def test_endpoints_defaults_and_environment(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, MINIMAL), env={})
    assert cfg.endpoints == config.EndpointsConfig(jobs=True, protected=False, services=False)
    assert cfg.api.version == "legacy"
    env = {"AVEPOINT_API_VERSION": "v3", "AVEPOINT_ENDPOINTS_PROTECTED": "true", "AVEPOINT_ENDPOINTS_JOBS": "false"}
    cfg = config.load(write(tmp_path, MINIMAL), env=env)
    assert cfg.api.version == "v3"
    assert cfg.endpoints == config.EndpointsConfig(jobs=False, protected=True, services=False)
    assert cfg.auth.scopes == ("elements.customers.read.all", "elements.cbprotected.read.all")
    # An environment override of the scopes counts as setting them.
    cfg = config.load(write(tmp_path, MINIMAL), env={**env, "AVEPOINT_AUTH_SCOPES": "a,b"})
    assert cfg.auth.scopes == ("a", "b")


def test_default_scopes_function() -> None:
    assert config.default_scopes("legacy") == config.LEGACY_SCOPES
    assert config.default_scopes("v3") == config.V3_SCOPES
    everything = config.EndpointsConfig(protected=True, services=True)
    assert config.default_scopes("v3", everything) == V3_ALL
    for version in config.API_VERSIONS:  # without endpoints: those of the default endpoint groups
        assert config.default_scopes(version) == config.default_scopes(version, config.EndpointsConfig())


def test_v3_job_selectors_take_names_in_any_case_or_numbers(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "api: {version: v3}\n"
        + "jobs: {select: [{job_type: microsoft 365, job_module: EXCHANGE ONLINE},\n"
        + "                {job_type: '15', job_module: '601'}]}\n"
    )
    cfg = config.load(write(tmp_path, text), env={})
    # Kept in the canonical spelling the parser exports; unknown names and numbers as given.
    assert cfg.jobs.select == (JobSelector("Microsoft 365", "Exchange Online"), JobSelector("15", "601"))
    # Either generation's spelling under either version: the client sends legacy its own spelling.
    legacy = MINIMAL + "jobs: {select: [{job_type: Microsoft 365, job_module: OneDrive for Business}]}\n"
    assert config.load(write(tmp_path, legacy), env={}).jobs.select[0].job_module == "OneDrive"

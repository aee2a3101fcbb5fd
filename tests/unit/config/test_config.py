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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auth: {client_id: a, client_secret: b}\nbogus: 1\n", "unknown key bogus"),
        ("auth: {client_id: a, client_secret: b, colour: red}\n", "unknown key auth.colour"),
        ("auth: {client_id: a, client_secret: b}\napi: {retries: many}\n", "api.retries: must be an integer"),
        ("auth: {client_id: a, client_secret: b}\napi: {retries: 1.5}\n", "api.retries: must be an integer"),
        ("auth: {client_id: a, client_secret: b}\napi: {retries: -1}\n", "api.retries: must be at least 0"),
        ("auth: {client_id: a, client_secret: b}\napi: {timeout: soon}\n", "api.timeout: must be a positive duration"),
        ("auth: {client_id: a, client_secret: b}\napi: {timeout: 0s}\n", "api.timeout: must be a positive duration"),
        ("auth: {client_id: a, client_secret: b}\napi: {base_url: ftp://x}\n", "api.base_url: must be an http(s) URL"),
        ("auth: {client_id: a, client_secret: b}\napi: {version: v9}\n", "api.version"),
        ("auth: {client_id: a, client_secret: b}\napi: {max_concurrency: 0}\n", "api.max_concurrency"),
        ("auth: {client_id: a, client_secret: b}\napi: {max_requests_per_second: 0}\n", "max_requests_per_second"),
        ("auth: {client_id: a, client_secret: b}\ncustomers: {include: a}\n", "customers.include: must be a list"),
        (
            "auth: {client_id: a, client_secret: b}\njobs: {select: [{job_type: x}]}\n",
            "jobs.select[0].job_module: required",
        ),
        (
            "auth: {client_id: a, client_secret: b}\njobs: {status_outcomes: {X: great}}\n",
            "jobs.status_outcomes.X: outcome must be one of",
        ),
        ("auth: {client_secret: b}\n", "auth.client_id: required"),
        ("auth: {client_id: a}\n", "set exactly one of client_secret"),
        ("auth: {client_id: a, client_secret: b, client_secret_file: c}\n", "found client_secret, client_secret_file"),
        ("auth: {client_id: a, client_secret_file: /nonexistent/x}\n", "auth.client_secret_file: cannot read"),
        ("auth: {client_id: a, client_secret: b}\napi: [1]\n", "api: must be a mapping"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("auth: {client_id: a, client_secret: b}\nweb: {listen_address: 9}\n", "web.listen_address: must be a string"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, text), env={})
    assert message in str(info.value)
    assert "b" not in str(info.value).split() or "client_secret" in message  # the secret value is never echoed


def test_error_messages_never_echo_secret_values(tmp_path: Path) -> None:
    text = "auth: {client_id: a, client_secret: TOPSECRET, client_secret_file: x}\n"
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, text), env={})
    assert "TOPSECRET" not in str(info.value)


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 3, column 2"):
        config.load(write(tmp_path, "auth:\n  client_id: a\n client_secret: b\n"), env={})


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
    with pytest.raises(ConfigError, match=r"api\.retries: must be an integer"):
        config.load(write(tmp_path, MINIMAL), env={"AVEPOINT_API_RETRIES": "lots"})


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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api: {version: v9}\n", "api.version: must be one of legacy, v3, not 'v9'"),
        ("api: {version: V3}\n", "api.version: must be one of legacy, v3"),
        ("endpoints: {services: yes please}\n", "endpoints.services: must be true or false"),
        ("endpoints: {licences: true}\n", "unknown key endpoints.licences"),
        (
            "api: {version: v3}\njobs: {select: [{job_type: Microsoft 365, job_module: OneDrive for Work}]}\n",
            "jobs.select[0].job_module: 'OneDrive for Work' has no v3 code; use a number or one of: None, Archiver",
        ),
        (
            "api: {version: v3}\njobs: {select: [{job_type: Gmail, job_module: Gmail}]}\n",
            "jobs.select[0].job_type: 'Gmail' has no v3 code",
        ),
    ],
)
def test_invalid_version_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, MINIMAL + text), env={})
    assert message in str(info.value)


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

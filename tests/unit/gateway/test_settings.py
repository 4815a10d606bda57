import os
from pathlib import Path

import pytest

from nornflow.exceptions import NornFlowError
from nornflow.gateway.errors import GatewaySettingsError, UnknownWorkspaceError
from nornflow.gateway.settings import GatewaySettings, load_settings
from nornflow.gateway.workspace_settings import WorkspaceSettings


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    """No NORNFLOW_* from the developer's shell, and a cwd without a .env."""
    for key in list(os.environ):
        if key.startswith("NORNFLOW_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults():
    s = load_settings()
    assert (s.host, s.port) == ("127.0.0.1", 8780)
    assert s.public_url == "http://127.0.0.1:8780" == s.public_base_url
    assert [w.name for w in s.workspaces] == ["default"]
    assert s.tls_enabled is False
    assert s.cors_origins == []
    assert s.workspace("default").four_eyes is True
    assert s.store_path == s.data_dir / "gateway.db"


def test_from_env_vars(monkeypatch):
    monkeypatch.setenv("NORNFLOW_PORT", "9000")
    monkeypatch.setenv("NORNFLOW_PUBLIC_URL", "https://ops.example.com/")
    monkeypatch.setenv("NORNFLOW_WORKSPACES",
                       '[{"name": "core"}, {"name": "edge", "url": "http://127.0.0.1:4200/api", "four_eyes": false}]')
    monkeypatch.setenv("NORNFLOW_CORS_ORIGINS", "https://a.example.com, https://b.example.com:8443/")
    monkeypatch.setenv("NORNFLOW_API_RATE_PER_SECOND", "12.5")
    s = load_settings()
    assert s.port == 9000
    assert s.public_url == "https://ops.example.com"
    assert [w.name for w in s.workspaces] == ["core", "edge"]
    assert s.workspace("edge").url == "http://127.0.0.1:4200/api"
    assert s.workspace("edge").four_eyes is False
    assert s.cors_origins == ["https://a.example.com", "https://b.example.com:8443"]
    assert s.api_rate_per_second == 12.5


def test_from_yaml_file_explicit_and_via_env(tmp_path, monkeypatch):
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "port: 8443\n"
        "session_idle_minutes: 15\n"
        "workspaces:\n"
        "  - name: prod\n"
        "    url: https://prefect.internal:4200/api\n"
        "    auth_string: upstream-s3cret-value\n"
        "  - name: lab\n"
        "    port: 4300\n"
        "cors_origins: [https://ops.example.com]\n")
    s = load_settings(config)
    assert s.port == 8443 and s.session_idle_minutes == 15
    assert s.workspace("prod").auth_string is not None
    assert s.workspace("prod").auth_string.get_secret_value() == "upstream-s3cret-value"
    assert s.workspace("lab").port == 4300
    assert "upstream-s3cret-value" not in repr(s) and "upstream-s3cret-value" not in str(s.model_dump())
    monkeypatch.setenv("NORNFLOW_CONFIG", str(config))
    assert load_settings().port == 8443
    assert GatewaySettings().port == 8443


def test_precedence_init_over_env_over_dotenv_over_yaml(tmp_path, monkeypatch):
    config = tmp_path / "gateway.yaml"
    config.write_text("port: 1111\nhost: 10.0.0.1\napi_burst: 7\nlogin_max_failures: 9\n")
    (tmp_path / ".env").write_text(
        "NORNFLOW_PORT=2222\nNORNFLOW_HOST=10.0.0.2\nNORNFLOW_API_BURST=8\n"
        "NORNFLOW_VAULT_SECRET_ID=not-a-gateway-setting\nPREFECT_API_URL=http://x\n")
    monkeypatch.setenv("NORNFLOW_PORT", "3333")
    monkeypatch.setenv("NORNFLOW_HOST", "10.0.0.3")
    s = load_settings(config, port=4444)
    assert s.port == 4444  # init kwargs
    assert s.host == "10.0.0.3"  # env beats .env
    assert s.api_burst == 8  # .env beats YAML
    assert s.login_max_failures == 9  # YAML beats defaults
    assert s.public_url == "http://10.0.0.3:4444"


def test_dotenv_alone(tmp_path):
    (tmp_path / ".env").write_text("NORNFLOW_DATA_DIR=/srv/nornflow\nNORNFLOW_TOKEN_DEFAULT_TTL_DAYS=30\n")
    s = load_settings()
    assert str(s.data_dir) == "/srv/nornflow"
    assert s.token_default_ttl_days == 30


def _error(**kwargs) -> str:
    with pytest.raises(GatewaySettingsError) as info:
        load_settings(**kwargs)
    assert isinstance(info.value, NornFlowError) and isinstance(info.value, ValueError)
    return str(info.value)


def test_bad_env_value_names_the_variable_and_the_yaml_key(monkeypatch):
    monkeypatch.setenv("NORNFLOW_PORT", "abc")
    monkeypatch.setenv("NORNFLOW_SESSION_MAX_HOURS", "0")
    message = _error()
    assert "NORNFLOW_PORT" in message and "'port'" in message and "integer" in message
    assert "NORNFLOW_SESSION_MAX_HOURS" in message and "'session_max_hours'" in message


def test_tls_cert_without_key_is_refused(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    message = _error(tls_cert=cert)
    assert "NORNFLOW_TLS_KEY" in message and "tls_key" in message
    message = _error(tls_cert=cert, tls_key=tmp_path / "missing.pem")
    assert "NORNFLOW_TLS_KEY" in message and "does not exist" in message


def test_tls_with_both_files_switches_the_public_url_to_https(tmp_path):
    (tmp_path / "c.pem").write_text("c")
    (tmp_path / "k.pem").write_text("k")
    s = load_settings(tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem", host="::1")
    assert s.tls_enabled and s.public_url == "https://[::1]:8780"


def test_duplicate_workspace_names_are_named():
    message = _error(workspaces=[{"name": "core"}, {"name": "edge"}, {"name": "core"}])
    assert "NORNFLOW_WORKSPACES" in message and "'core'" in message and "more than once" in message


def test_cors_wildcard_is_refused_with_a_reason(monkeypatch):
    monkeypatch.setenv("NORNFLOW_CORS_ORIGINS", "*")
    message = _error()
    assert "NORNFLOW_CORS_ORIGINS" in message and "'*' is refused" in message
    assert "not an origin" in _error(cors_origins=["https://ops.example.com/path"])


def test_bad_workspace_name_points_at_the_list_item():
    message = _error(workspaces=[{"name": "ok"}, {"name": "Core Net"}])
    assert "workspaces[1].name" in message and "lowercase" in message
    with pytest.raises(ValueError):
        WorkspaceSettings(name="x" * 41)


def test_secret_values_never_appear_in_errors(tmp_path):
    config = tmp_path / "g.yaml"
    config.write_text("workspaces:\n  - name: prod\n    auth_string: [hunter2-upstream-secret]\n")
    with pytest.raises(GatewaySettingsError) as info:
        load_settings(config)
    assert "workspaces[0].auth_string" in str(info.value)
    assert "hunter2-upstream-secret" not in str(info.value)


def test_unknown_keys_are_typos_not_silence(tmp_path):
    config = tmp_path / "g.yaml"
    config.write_text("prot: 8000\n")
    with pytest.raises(GatewaySettingsError, match="prot"):
        load_settings(config)
    assert "prot" in _error(prot=8000)
    assert "workspaces[0].nmae" in _error(workspaces=[{"nmae": "x", "name": "x"}])


def test_missing_or_malformed_config_file(tmp_path, monkeypatch):
    with pytest.raises(GatewaySettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- port: 1\n")
    with pytest.raises(GatewaySettingsError, match="mapping"):
        load_settings(tmp_path / "list.yaml")
    monkeypatch.setenv("NORNFLOW_WORKSPACES", "not json")
    with pytest.raises(GatewaySettingsError, match="workspaces"):
        load_settings()


def test_unknown_workspace_lists_the_configured_ones():
    s = load_settings(workspaces=[{"name": "core"}, {"name": "edge"}])
    with pytest.raises(UnknownWorkspaceError) as info:
        s.workspace("lab")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "no workspace named 'lab'; configured workspaces: core, edge"


def test_the_shipped_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "deployments" / "gateway.example.yaml"
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    settings = load_settings(example, tls_cert=cert, tls_key=key)
    assert [ws.name for ws in settings.workspaces] == ["core", "datacenter"]
    assert settings.tls_enabled and settings.public_base_url == "https://netops.example.com:8443"
    assert all(ws.database_url_value("").startswith("postgresql+asyncpg://") for ws in settings.workspaces)


def test_the_shipped_prod_overlay_layers_over_the_example(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "deployments" / "gateway.example.yaml"
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    settings = load_settings(example, env="prod", tls_cert=cert, tls_key=key)
    core, dc = settings.workspace("core"), settings.workspace("datacenter")
    assert settings.public_base_url == "https://netops.example.com" and settings.session_idle_minutes == 15
    assert settings.port == 8443  # from the base file
    assert "db.example.com" in core.database_url_value("") and core.four_eyes  # merged field by field
    assert "127.0.0.1" in dc.database_url_value("")
    assert list(core.env) == ["PREFECT_API_DATABASE_PASSWORD"]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_environment_file_from_the_config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    _write(folder / "gateway.yaml", "port: 9001\nworkspaces:\n  - {name: core}\n  - {name: lab, four_eyes: false}\n")
    _write(folder / "gateway.prod.yaml", "port: 9443\nworkspaces:\n  - {name: core, four_eyes: false}\n")
    monkeypatch.setenv("NORNFLOW_CONFIG_DIR", str(folder))
    assert load_settings().port == 9001
    monkeypatch.setenv("NORNFLOW_ENV", "prod")
    prod = load_settings()
    assert prod.port == 9443 and [w.name for w in prod.workspaces] == ["core", "lab"]
    assert prod.workspace("core").four_eyes is False and prod.workspace("lab").four_eyes is False
    monkeypatch.setenv("NORNFLOW_ENV", "staging")  # no gateway.staging.yaml: NORNFLOW_ENV is shared, so fine
    assert load_settings().port == 9001
    with pytest.raises(GatewaySettingsError, match=r"--env staging: no gateway settings file .*gateway.staging.yaml"):
        load_settings(env="staging")  # asked for explicitly: say it is missing


def test_deployments_gateway_yaml_is_read_by_default(tmp_path):
    _write(tmp_path / "deployments" / "gateway.yaml", "port: 9002\n")
    assert load_settings().port == 9002


def test_an_error_names_the_setting_and_the_file_it_came_from(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    base = _write(folder / "gateway.yaml", "port: 9001\nworkspaces:\n  - {name: core}\n")
    prod = _write(folder / "gateway.prod.yaml", "session_idle_minutes: 0\nworkspaces:\n  - {name: core, port: 0}\n")
    monkeypatch.setenv("NORNFLOW_CONFIG_DIR", str(folder))
    with pytest.raises(GatewaySettingsError) as info:
        load_settings(env="prod")
    text = str(info.value)
    assert f"NORNFLOW_SESSION_IDLE_MINUTES (YAML key 'session_idle_minutes' in {prod})" in text
    assert f"(YAML key 'workspaces[0].port' in {prod})" in text
    assert str(base) not in text
    monkeypatch.setenv("NORNFLOW_SESSION_IDLE_MINUTES", "0")  # the environment wins: do not blame the file
    with pytest.raises(GatewaySettingsError) as info:
        load_settings(env="prod")
    assert "NORNFLOW_SESSION_IDLE_MINUTES (YAML key 'session_idle_minutes'):" in str(info.value)


PASSWORD = "s3cr3t-Pa55word-xyz"


def test_a_database_password_never_shows(tmp_path, caplog):
    url = f"postgresql+asyncpg://prefect:{PASSWORD}@db:5432/core"
    ws = WorkspaceSettings(name="core", database_url=url)
    assert PASSWORD not in repr(ws) and PASSWORD not in str(ws) and PASSWORD not in repr(load_settings(
        workspaces=[{"name": "core", "database_url": url}]))
    assert ws.database_url_value("") == url
    bad = f"mysql://prefect:{PASSWORD}@db/core"
    with pytest.raises(GatewaySettingsError) as info:
        load_settings(workspaces=[{"name": "core", "database_url": bad}])
    assert "workspaces[0].database_url" in str(info.value) and "'mysql'" in str(info.value)
    assert PASSWORD not in str(info.value)
    _write(tmp_path / "deployments" / "gateway.yaml", f"workspaces:\n  - {{name: core, database_url: [{PASSWORD}]}}\n")
    with pytest.raises(GatewaySettingsError) as info:
        load_settings()
    assert "database_url" in str(info.value) and PASSWORD not in str(info.value)


def test_workspace_env_reaches_the_server_env_only_unwrapped_there():
    ws = WorkspaceSettings(name="core", env={"PREFECT_API_DATABASE_PASSWORD": PASSWORD,
                                             "PGSSLMODE": "secret:nornflow-vault/prod:db#sslmode"})
    assert PASSWORD not in repr(ws)
    seen: list[str] = []
    env = ws.server_env(lambda ref: seen.append(ref) or "require")
    assert env == {"PREFECT_API_DATABASE_PASSWORD": PASSWORD, "PGSSLMODE": "require"}
    assert seen == ["secret:nornflow-vault/prod:db#sslmode"]
    with pytest.raises(GatewaySettingsError, match="PGSSLMODE is a secret reference"):
        ws.server_env()


@pytest.mark.parametrize(("env", "needle"), [
    ({"PREFECT_SERVER_API_AUTH_STRING": "x"}, "set by the gateway itself"),
    ({"lower": "x"}, "not an environment variable name"),
    ({"X": "secret:Bad Ref"}, "malformed secret reference"),
])
def test_workspace_env_is_checked(env, needle):
    with pytest.raises(GatewaySettingsError, match=needle) as info:
        load_settings(workspaces=[{"name": "core", "env": env}])
    assert "workspaces[0].env" in str(info.value)

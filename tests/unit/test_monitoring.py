"""Monitoring: Prometheus' configuration and alert rules pass `promtool check config` and
fire in `promtool test rules` (deploy/prometheus/alerts_test.yml) as meant; the Grafana
dashboard and its provisioning agree with them; the app metrics they use are the named set
the app exposes. promtool is Debian's (scripts/ensure-test-tools.sh takes it from the
`prometheus` package without installing the server)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "instaclone.json").read_text())
ALERTS = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
CONFIG = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())

# What the app exposes per node at /metrics, by these exact names (the rules and the dashboard
# use nothing else of the app's).
APP_METRICS = {
    "instaclone_db_pool_connections",  # gauge, label state="in_use"|"idle"
    "instaclone_db_pool_size",  # gauge
    "instaclone_delivery_latency_seconds",  # histogram: commit to socket
    "instaclone_db_table_dead_tuples",  # gauge, label table
    "instaclone_db_replication_lag_seconds",  # gauge
    "instaclone_ws_connections",  # gauge
    "instaclone_events_appended_total",
    "instaclone_ws_events_out_total",
    "instaclone_ws_gaps_filled_total",
    "instaclone_http_request_seconds",
    "instaclone_db_blocks_total",  # counter, label source="hit"|"read"
    "instaclone_db_oldest_transaction_seconds",  # gauge
    "instaclone_event_log_bytes",  # gauge
    "instaclone_event_log_oldest_seconds",  # gauge
}
REQUIRED_ALERTS = {
    "PostgresDown": "pg_up",
    "DbPoolExhausted": "instaclone_db_pool_connections",
    "DeliveryLatencyP99High": "instaclone_delivery_latency_seconds_bucket",
    "DeadTuplesHigh": "instaclone_db_table_dead_tuples",
    "ReplicationLagHigh": "instaclone_db_replication_lag_seconds",
    "DiskSpaceLow": "node_filesystem_avail_bytes",
}


def rules() -> dict[str, dict]:
    return {rule["alert"]: rule for group in ALERTS["groups"] for rule in group["rules"]}


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel.get("targets", [])]


def app_metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\binstaclone_[a-z_]+", expr))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}


@pytest.fixture
def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(
            "promtool is missing: run scripts/ensure-test-tools.sh (it takes it from Debian's prometheus package)"
        )
    return path


def test_the_configuration_and_rules_pass_promtool_check(promtool, tmp_path):
    # given: the files as the prometheus service mounts them, the token file where it writes it
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    config = tmp_path / "prometheus.yml"
    config.write_text(config.read_text().replace("/prometheus/metrics-token", str(tmp_path / "metrics-token")))
    (tmp_path / "metrics-token").write_text("")
    # when
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr
    rules_check = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "alerts.yml")], capture_output=True, text=True, timeout=60
    )
    assert rules_check.returncode == 0, rules_check.stdout + rules_check.stderr


def test_each_alert_fires_on_its_figures_and_not_on_healthy_ones(promtool):
    result = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts_test.yml").read_text()))
    assert set(REQUIRED_ALERTS) <= tested


def test_the_required_alerts_exist_on_their_metrics():
    by_name = rules()
    for alert, metric in REQUIRED_ALERTS.items():
        assert metric in by_name[alert]["expr"], alert
        assert by_name[alert]["labels"]["severity"] in ("warning", "critical")
        assert by_name[alert]["annotations"]["summary"]
    assert re.search(
        r"histogram_quantile\(0\.99,.*\)\s*>\s*1\s*$", by_name["DeliveryLatencyP99High"]["expr"].strip(), re.DOTALL
    )


def test_rules_and_dashboard_use_only_the_named_app_metrics():
    used = set()
    for rule in rules().values():
        used |= app_metric_names(rule["expr"])
    for expr in dashboard_exprs():
        used |= app_metric_names(expr)
    assert used <= APP_METRICS, used - APP_METRICS
    # and every alert's figure is on the dashboard
    exprs = " ".join(dashboard_exprs())
    for metric in REQUIRED_ALERTS.values():
        assert re.sub(r"_bucket$", "", metric) in exprs, metric


def test_prometheus_scrapes_every_node_and_exporter_with_the_bearer_token():
    jobs = {job["job_name"]: job for job in CONFIG["scrape_configs"]}
    targets = {job: [t for sc in jobs[job]["static_configs"] for t in sc["targets"]] for job in jobs}
    assert targets["instaclone"] == ["web1:8000", "web2:8000"]
    assert targets["postgres"] == ["postgres-exporter:9187"]
    assert targets["node"] == ["node-exporter:9100"]
    assert jobs["instaclone"]["authorization"] == {"type": "Bearer", "credentials_file": "/prometheus/metrics-token"}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["prometheus"]
    assert "> /prometheus/metrics-token" in " ".join(compose["entrypoint"])
    assert CONFIG["rule_files"] == ["alerts.yml"]


def test_the_dashboard_reads_the_provisioned_prometheus():
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    (source,) = datasources
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    for panel in DASHBOARD["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
            assert panel["targets"], panel["title"]
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "instaclone.yml").read_text())["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in compose["volumes"]

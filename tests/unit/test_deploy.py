"""The deployment files, read (tests/compose/test_stack.py runs them): the compose stack's services
and wiring, the images' build arguments, the balancer's site."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "scheduler", "web1", "web2")

# variable -> the public image it defaults to (the Debian-built ones replace them locally)
PUBLIC_IMAGES = {
    "POSTGRES_IMAGE": "postgres:15",
    "PGBOUNCER_IMAGE": "edoburu/pgbouncer",
    "REDIS_IMAGE": "redis:7",
    "NGINX_IMAGE": "nginx:1.27",
    "PROMETHEUS_IMAGE": "prom/prometheus",
    "POSTGRES_EXPORTER_IMAGE": "quay.io/prometheuscommunity/postgres-exporter",
    "NODE_EXPORTER_IMAGE": "prom/node-exporter",
    "GRAFANA_IMAGE": "grafana/grafana",
    "APP_IMAGE": "instaclone:latest",
}


def test_the_stack_has_every_service():
    assert set(SERVICES) == {
        "postgres",
        "pgbouncer",
        "redis",
        "migrate",
        "scheduler",
        "web1",
        "web2",
        "lb",
        "prometheus",
        "postgres-exporter",
        "node-exporter",
        "grafana",
    }
    assert {"pgdata", "media", "promdata", "grafana"} <= set(COMPOSE["volumes"])


def test_every_image_is_a_variable_defaulting_to_the_public_one():
    for name, service in SERVICES.items():
        match = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", service["image"])
        assert match, f"{name}: image {service['image']!r} is not ${{VAR:-default}}"
        assert PUBLIC_IMAGES[match.group(1)] == match.group(2), name
    # the app's base image too, as a build argument
    for name in APP_SERVICES:
        assert SERVICES[name]["build"]["args"]["BASE_IMAGE"] == "${APP_BASE_IMAGE:-python:3.11-slim}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}" in dockerfile
    for path in (ROOT / "deploy" / "images").glob("*/Dockerfile"):
        assert "ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}" in path.read_text(), path


def test_the_local_build_script_names_an_image_for_every_variable_but_grafana():
    script = (ROOT / "scripts" / "build-base-images.sh").read_text()
    named = set(re.findall(r'^  "\S+ \S+ (\w+)"$', script, re.MULTILINE))
    assert named == {name for name in PUBLIC_IMAGES if name not in ("GRAFANA_IMAGE", "APP_IMAGE")} | {"APP_BASE_IMAGE"}
    for directory in re.findall(r'^  "\S+ (\S+) \w+"$', script, re.MULTILINE):
        assert (ROOT / "deploy" / "images" / directory / "Dockerfile").exists(), directory


def test_the_nodes_reach_postgres_through_pgbouncer_in_transaction_pooling():
    for name in ("web1", "web2"):
        env = SERVICES[name]["environment"]
        assert re.fullmatch(
            r"postgres://instaclone:\$\{POSTGRES_PASSWORD:\?[^}]*\}@pgbouncer:5432/instaclone", env["DATABASE_URL"]
        ), name
        assert env["DB_DISABLE_SERVER_SIDE_CURSORS"] == "1"
        assert env["REDIS_URL"].startswith("redis://") and env["DEBUG"] == "0"
    # migrations and maintenance (session settings: lock_timeout) go straight to PostgreSQL
    assert "@postgres:5432/" in SERVICES["migrate"]["environment"]["DATABASE_URL"]
    assert "@postgres:5432/" in SERVICES["scheduler"]["environment"]["DATABASE_URL"]
    pgbouncer = SERVICES["pgbouncer"]["environment"]
    assert pgbouncer["POOL_MODE"] == "transaction" and pgbouncer["DB_HOST"] == "postgres"
    assert pgbouncer["AUTH_TYPE"] == "scram-sha-256"  # PostgreSQL 15's password hashing


def test_postgres_loads_pg_stat_statements_and_creates_the_extension():
    command = SERVICES["postgres"]["command"]
    assert "shared_preload_libraries=pg_stat_statements" in command
    assert "./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro" in SERVICES["postgres"]["volumes"]
    init = (ROOT / "deploy" / "postgres" / "initdb" / "01-pg_stat_statements.sql").read_text()
    assert "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" in init


def test_each_node_answers_to_its_service_name_for_scrapes_and_health_checks():
    for name in ("web1", "web2"):
        env = SERVICES[name]["environment"]
        assert env["ALLOWED_HOSTS"].endswith(f",{name}") and env["NODE_HOST"] == name
        assert "NODE_HOST" in " ".join(SERVICES[name]["healthcheck"]["test"])


def test_the_scheduler_runs_the_three_maintenance_jobs():
    scheduler = SERVICES["scheduler"]
    assert scheduler["command"] == ["python", "deploy/scheduler.py"]
    schedule = scheduler["environment"]["SCHEDULE"]
    for job in ("db_maintenance", "prune_stories", "prune_events"):
        assert job in schedule


def test_published_ports_of_the_monitoring_stay_on_loopback():
    assert SERVICES["prometheus"]["ports"] == ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"]
    assert SERVICES["grafana"]["ports"] == ["127.0.0.1:${GRAFANA_PORT:-3000}:3000"]
    for name, service in SERVICES.items():
        if name not in ("lb", "prometheus", "grafana"):
            assert "ports" not in service, name


def test_the_balancer_site_names_both_nodes_and_upgrades_sockets():
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server web1:8000" in nginx and "server web2:8000" in nginx
    assert "proxy_set_header Upgrade" in nginx
    assert "proxy_connect_timeout 3s;" in nginx

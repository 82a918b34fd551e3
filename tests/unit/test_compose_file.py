from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_stack_has_database_redis_two_nodes_and_a_balancer():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web1", "web2", "lb"} <= set(services)
    for node in ("web1", "web2"):
        env = services[node]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
        assert env["DEBUG"] == "0"
    assert {"pgdata", "media"} <= set(compose["volumes"])
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server web1:8000" in nginx and "server web2:8000" in nginx
    assert "proxy_set_header Upgrade" in nginx

"""The Dockerfile and docker-compose.yml cannot be built here (no container engine), so they are held to
what the tests run: the README's install step, `python app.py`, variables the settings know, /healthz."""

from __future__ import annotations

import re

import yaml
from conftest import ROOT

from escalator.settings import Settings
from escalator.web import HEALTH_PATH

KNOWN = set(Settings.model_fields)


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _env(dockerfile: str) -> dict[str, str]:
    block = re.search(r"^ENV PORT=.*?(?=^\S)", dockerfile, re.M | re.S)
    assert block is not None
    return dict(re.findall(r"(\w+)=(\S+)", block.group(0)))


def test_the_image_installs_as_the_readme_says_and_runs_http_mode_with_several_workers():
    dockerfile = _dockerfile()
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e ." in readme and "RUN pip install -e ." in dockerfile
    assert 'CMD ["python", "app.py"]' in dockerfile
    env = _env(dockerfile)
    assert set(env) <= KNOWN
    assert "SLACK_APP_TOKEN" not in dockerfile  # HTTP mode
    assert int(env["ESCALATOR_WORKERS"]) > 1
    assert env["LOG_FORMAT"] == "json"
    assert f"/{HEALTH_PATH.strip('/')}" in dockerfile.split("HEALTHCHECK", 1)[1]
    for copied in re.findall(r"^COPY (.+?) \./", dockerfile, re.M):
        for path in copied.split():
            assert (ROOT / path).exists(), path


def test_compose_runs_both_process_types_against_postgresql_with_the_policy_where_the_image_reads_it():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web, delivery, db = (compose["services"][name] for name in ("escalator", "delivery", "db"))
    assert web["command"] == ["escalator", "web"]
    assert delivery["command"][:2] == ["escalator", "deliver"]
    # The image's health check asks PORT: the delivery process serves its /healthz there.
    assert delivery["command"][-1] == delivery["environment"]["PORT"]
    for app in (web, delivery):
        assert app["build"] == "."
        assert set(app["environment"]) <= KNOWN
        url = app["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@db:5432/" in url
        assert app["depends_on"]["db"]["condition"] == "service_healthy"
        policy_target = _env(_dockerfile())["ESCALATOR_POLICY"]
        assert any(volume.split(":")[1] == policy_target for volume in app["volumes"])
    assert db["image"].startswith("postgres:")
    assert web["ports"] == [f"127.0.0.1:{_env(_dockerfile())['PORT']}:{_env(_dockerfile())['PORT']}"]

"""The Python client is its own distribution (clients/python): built, installed on its own, it sends events.

The wheel is built from a copy of clients/python (a build writes build/ and *.egg-info next to its sources),
installed into a scratch folder, and run in a fresh interpreter whose path has that folder and the venv's
site-packages (pydantic) without its .pth files (-S), so neither the repo nor the pipeline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.helpers.live_collector import live_collector

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"

SEND = """
import json, sys
import analytics_pipeline_client
from analytics_pipeline_client import Client, EventRejected
assert "/clients/python/src" not in analytics_pipeline_client.__file__, analytics_pipeline_client.__file__
c = Client(sys.argv[1], sync_mode=True, handle_sigterm=False, source="api")
c.assets.view("usr_001", "ast_001", session_id="wheel-check")
c.engagement.page_view("usr_001", "/pricing", session_id="wheel-check")
try:
    c.track({"eventType": "no_such_type", "source": "api"})
    refused = None
except EventRejected as exc:
    refused = exc.reason
pipeline = sorted(m for m in ("analytics", "orjson", "uuid_utils", "flask", "airflow") if m in sys.modules)
print(json.dumps({"accepted": c.stats.accepted, "refused": refused, "pipeline": pipeline,
                  "file": analytics_pipeline_client.__file__}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("client-src") / "python"
    shutil.copytree(CLIENT, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    # The client's pyproject extends the repo's ruff settings; the build never reads them.
    dist = src.parent / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), "."]
    subprocess.run(build, cwd=src, check=True, capture_output=True, timeout=120)
    (built,) = dist.glob("*.whl")
    return built


def test_the_wheel_holds_the_client_and_its_schema_only(wheel):
    assert wheel.name.startswith("analytics_pipeline_client-")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    top = {n.split("/")[0] for n in names}
    assert {n for n in top if not n.endswith(".dist-info")} == {"analytics_pipeline_client"}
    assert not any(n.startswith("analytics/") for n in names)  # Segment's old `analytics-python` owns that name
    expected = {"client.py", "helpers.py", "schema.py", "registry.py"}
    assert {f"analytics_pipeline_client/{f}" for f in expected} <= names
    requires = {line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")}
    assert requires == {"pydantic>=2", "typing-extensions>=4.6"}
    assert "Requires-Python: >=3.9" in metadata


def test_the_root_project_no_longer_builds_the_client():
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "build-system" not in root and "setuptools" not in root.get("tool", {})
    assert not (ROOT / "include" / "analytics_client").exists()


def test_the_client_wheel_installs_alone_and_sends_events(tmp_path, settings, wheel):
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=120)
    with live_collector(settings) as (url, gate):
        env = {"PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}", "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-S", "-c", SEND.replace("sys.argv[1]", repr(url))],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        result = json.loads(out.stdout)
        assert result["file"].startswith(str(target))
        assert result["accepted"] == 2
        assert result["refused"] == "unknown_event_type"  # validated by the wheel's own copy of the schema
        assert result["pipeline"] == []  # the client imports none of the pipeline
        assert [r["body"]["events"][0]["eventType"] for r in gate.requests] == ["asset_viewed", "page_viewed"]


@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_pip_resolves_the_wheel_for_newer_pythons(tmp_path, wheel, python):
    """Resolved against the package index (pydantic's binary wheels for that Python): no network, no pass."""
    report = tmp_path / "report.json"
    resolve = [
        *(sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--target", str(tmp_path / "site")),
        *("--python-version", python, "--only-binary", ":all:", "--report", str(report), str(wheel)),
    ]
    out = subprocess.run(resolve, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    install = json.loads(report.read_text())["install"]
    resolved = {
        re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower(): item["download_info"]["url"] for item in install
    }
    assert {"analytics-pipeline-client", "pydantic", "pydantic-core"} <= resolved.keys()
    tag = "cp" + python.replace(".", "")
    assert f"-{tag}-" in resolved["pydantic-core"].rsplit("/", 1)[-1]  # a binary built for that Python

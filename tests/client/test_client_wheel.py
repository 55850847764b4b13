"""The Python client ships as a wheel (pyproject.toml): built from the repo, installed on its own, it sends events.

The wheel is built from a copy of the repo's pyproject.toml and include/ (a build writes build/ and *.egg-info
next to its sources), installed into a scratch folder, and run in a fresh interpreter whose path has that folder
and the venv's site-packages (pydantic, uuid-utils) without its .pth files (-S), so not the repo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.helpers.live_collector import live_collector

ROOT = Path(__file__).resolve().parents[2]

SEND = """
import json, sys
import analytics_client
from analytics_client import Client, AssetEventHelpers
assert "/include" not in analytics_client.__file__, analytics_client.__file__
c = Client(sys.argv[1], sync_mode=True, handle_sigterm=False)
c.track(AssetEventHelpers(source="api").view("usr_001", "ast_001", session_id="wheel-check"))
print(json.dumps({"accepted": c.stats.accepted, "file": analytics_client.__file__}))
"""


def test_the_client_wheel_installs_alone_and_sends_events(tmp_path, settings):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copytree(ROOT / "include", src / "include", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), "."]
    subprocess.run(build, cwd=src, check=True, capture_output=True, timeout=120)
    (wheel,) = dist.glob("*.whl")

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {"analytics_client/client.py", "analytics/collect/events.py", "analytics/collect/registry.py"} <= names
    assert "Requires-Dist: pydantic>=2" in metadata and "Requires-Dist: uuid-utils" in metadata

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
        assert result["accepted"] == 1
        assert result["file"].startswith(str(target))
        (request,) = gate.requests
        assert request["body"]["events"][0]["sessionId"] == "wheel-check"

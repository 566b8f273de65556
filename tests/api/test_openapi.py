"""The published OpenAPI description, checked by schemathesis against a real node: no
generated request (valid or not) may get a server error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import ADMIN_KEY, ROOT, Node, timeout


@pytest.fixture
def node(tmp_path: Path) -> object:
    script = ROOT / "scripts" / "snack-party.toml"
    started = Node.start(data_dir=tmp_path, env={"LIVECON_SCRIPTS": f"snack={script}"})
    yield started
    started.stop()


def test_every_route_of_the_app_is_described(node: Node) -> None:
    with urllib.request.urlopen(node.base + "/openapi.json", timeout=timeout(5)) as response:
        spec = json.loads(response.read())
    described = set(spec["paths"])
    assert {"/api/tokens", "/api/rooms/{room}/ingest", "/api/rooms/{room}/report"} <= described
    from console.app import create_app
    from console.config import Settings

    app = create_app(Settings(secret="x" * 32, admin_key="k", data_dir=node.log_path.parent))
    api_routes = {getattr(route, "path", "").replace(":str}", "}") for route in app.routes}
    missing = {path for path in api_routes if path.startswith("/api/")} - described
    assert not missing, f"routes missing from openapi.json: {sorted(missing)}"


def test_schemathesis_finds_no_server_error(node: Node) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is a dev dependency (pip install -e '.[dev]')"
    result = subprocess.run(
        [
            cli,
            "run",
            node.base + "/openapi.json",
            "--checks",
            "not_a_server_error",
            "-H",
            f"Authorization: Bearer {ADMIN_KEY}",
            "--max-examples",
            "25",
            "--request-timeout",
            "10",
            "--no-color",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=timeout(300),
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

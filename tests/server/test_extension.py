"""How the extension is found, enabled and wired to kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ml_intern_jupyter
from ml_intern_jupyter.config import Config
from ml_intern_jupyter.server import MLInternApp
from ml_intern_jupyter.server.auth import EnvPublisher, secret_matches, server_url
from ml_intern_jupyter.store import (
    FallbackStore,
    HttpStore,
    SessionRecord,
    SqliteStore,
    connect,
)
from ml_intern_jupyter.store.http import SERVER_SECRET_ENV, SERVER_URL_ENV
from tests.server.live import LiveServer, environ_snapshot, free_port

REPO = Path(__file__).resolve().parents[2]


def test_extension_points() -> None:
    points = ml_intern_jupyter._jupyter_server_extension_points()
    assert points == [{"module": "ml_intern_jupyter.server", "app": MLInternApp}]
    assert MLInternApp.name == "ml_intern_jupyter"


def test_enabled_on_install_by_shared_data() -> None:
    config = REPO / "jupyter-config" / "jupyter_server_config.d" / "ml_intern_jupyter.json"
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"ml_intern_jupyter": True}}
    }
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    shared = project["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared == {
        "jupyter-config/jupyter_server_config.d/ml_intern_jupyter.json": (
            "etc/jupyter/jupyter_server_config.d/ml_intern_jupyter.json"
        ),
        # the prebuilt sidebar
        "ml_intern_jupyter/labextension": "share/jupyter/labextensions/ml-intern-jupyter",
        "labextension/install.json": "share/jupyter/labextensions/ml-intern-jupyter/install.json",
    }


def test_package_import_stays_light() -> None:
    code = (
        "import sys, ml_intern_jupyter; "
        "print(sorted(m for m in ('jupyter_server', 'tornado', 'traitlets') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"


def test_server_url_is_loopback_for_kernels() -> None:
    class App:
        sock = ""
        port = 8888
        certfile = ""
        base_url = "/user/x/"
        ip = "localhost"

    app = App()
    assert server_url(app) == "http://127.0.0.1:8888/user/x/"  # type: ignore[arg-type]
    app.ip = "0.0.0.0"
    assert server_url(app) == "http://127.0.0.1:8888/user/x/"  # type: ignore[arg-type]
    app.ip = "::"
    assert server_url(app) == "http://[::1]:8888/user/x/"  # type: ignore[arg-type]
    app.ip, app.certfile = "10.0.0.5", "/cert.pem"
    assert server_url(app) == "https://10.0.0.5:8888/user/x/"  # type: ignore[arg-type]
    app.sock = "/tmp/jupyter.sock"
    assert server_url(app) is None  # type: ignore[arg-type]


def test_secret_comparison() -> None:
    assert secret_matches("abc", "abc")
    assert not secret_matches("abd", "abc")
    assert not secret_matches("", "abc")


def test_env_publisher_restores_what_was_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_URL_ENV, "http://127.0.0.1:1/outer/")
    monkeypatch.setenv(SERVER_SECRET_ENV, "outer")
    monkeypatch.delenv("ML_INTERN_HOME", raising=False)
    env = EnvPublisher()
    env.publish("http://127.0.0.1:2/", "inner", "/tmp/home")
    assert os.environ[SERVER_URL_ENV] == "http://127.0.0.1:2/"
    assert os.environ[SERVER_SECRET_ENV] == "inner"
    assert os.environ["ML_INTERN_HOME"] == "/tmp/home"
    env.withdraw()
    assert os.environ[SERVER_URL_ENV] == "http://127.0.0.1:1/outer/"
    assert os.environ[SERVER_SECRET_ENV] == "outer"
    assert "ML_INTERN_HOME" not in os.environ
    # No URL (a Unix socket): inherited values are removed, not left pointing elsewhere.
    env.publish(None, "inner")
    assert SERVER_URL_ENV not in os.environ and SERVER_SECRET_ENV not in os.environ
    env.withdraw()
    assert os.environ[SERVER_SECRET_ENV] == "outer"


def test_live_server_publishes_then_withdraws(tmp_path: Path) -> None:
    before = environ_snapshot()
    with LiveServer(tmp_path / "root", tmp_path / "home") as server:
        assert os.environ[SERVER_URL_ENV] == server.url
        assert os.environ[SERVER_SECRET_ENV] == server.secret
        # What a kernel started now would do:
        store = connect(Config(model_name="x"))
        assert isinstance(store, FallbackStore) and isinstance(store.primary, HttpStore)
        store.create_session(SessionRecord(id="k1"))
        assert not store.switched
        store.close()
        direct = SqliteStore.open(tmp_path / "home")
        assert direct.get_session("k1") is not None  # the file the server owns
        direct.close()
    assert environ_snapshot() == before


def test_connect_without_a_server_opens_sqlite(tmp_path: Path) -> None:
    config = Config(model_name="x", home=tmp_path / "home")
    store = connect(config, env={})
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "home" / "sessions.db"
    store.close()


def test_connect_with_a_server_defers_all_io(tmp_path: Path) -> None:
    config = Config(model_name="x", home=tmp_path / "home")
    env = {SERVER_URL_ENV: "http://127.0.0.1:9/base/", SERVER_SECRET_ENV: "s"}
    store = connect(config, env=env)
    assert isinstance(store, FallbackStore)
    assert isinstance(store.primary, HttpStore) and store.primary.url == env[SERVER_URL_ENV]
    assert not (tmp_path / "home").exists()  # the fallback is opened only when needed
    store.close()


def test_connect_with_a_bad_url_uses_sqlite(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = Config(model_name="x", home=tmp_path / "home")
    env = {SERVER_URL_ENV: "not a url", SERVER_SECRET_ENV: "s"}
    store = connect(config, env=env)
    assert isinstance(store, SqliteStore)
    assert "not an http(s) URL" in caplog.text
    store.close()


KERNEL_MAIN = """
import json, sys
from ml_intern_jupyter.config import Config
from ml_intern_jupyter.store import SessionRecord, connect

store = connect(Config(model_name="x"))
store.create_session(SessionRecord(id="from-kernel", title="written by a kernel"))
report = {"store": type(store).__name__, "switched": getattr(store, "switched", None)}
store.close()
with open(sys.argv[1], "w") as fh:
    json.dump(report, fh)
"""


def test_kernels_started_by_the_server_write_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel the server starts inherits URL and secret, and `connect()` uses them."""
    import time
    import urllib.request

    report = tmp_path / "report.json"
    spec = tmp_path / "jupyter" / "kernels" / "probe"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-c", KERNEL_MAIN, str(report), "{connection_file}"],
                "display_name": "probe",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("ML_INTERN_HOME", raising=False)
    extra = {"KernelManager": {"autorestart": False}}
    with LiveServer(tmp_path / "root", tmp_path / "home", extra_config=extra) as server:
        request = urllib.request.Request(
            f"{server.url}api/kernels",
            data=json.dumps({"name": "probe"}).encode(),
            headers={"Authorization": f"token {server.token}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
        deadline = time.monotonic() + 60
        while not report.exists() or not report.read_text():
            assert time.monotonic() < deadline, "the kernel never reported"
            time.sleep(0.05)
        assert json.loads(report.read_text()) == {"store": "FallbackStore", "switched": False}
        assert server.extension is not None
        record = server.extension.store.get_session("from-kernel")
        assert record is not None and record.title == "written by a kernel"


def test_shipped_config_enables_the_extension_in_jupyter_server(tmp_path: Path) -> None:
    """`jupyter server` with only our shipped config file serves the API."""
    import re
    import time
    import urllib.error
    import urllib.request

    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_CONFIG_PATH": str(REPO / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "ML_INTERN_HOME": str(tmp_path / "home"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--ServerApp.port={free_port()}",  # servers before 2.20 log port 0 for port 0
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            "--IdentityProvider.token=shipped",
            f"--ServerApp.root_dir={tmp_path}",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        log: list[str] = []
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            log.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else None
        assert url is not None, "".join(log)
        assert any("ml_intern_jupyter | extension was successfully loaded" in x for x in log)
        request = urllib.request.Request(
            f"{url}ml-intern/api/sessions", headers={"Authorization": "token shipped"}
        )
        while True:  # the URL is logged a moment before the port is listening
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert json.loads(response.read()) == {"sessions": []}
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert (tmp_path / "home" / "sessions.db").exists()
    finally:
        proc.terminate()
        proc.wait(30)

"""The dashboard cannot be made to read outside its directories, and says when it is exposed."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from noise_runs import noise_run
from reprdynamics.server import app as app_module
from reprdynamics.server import impl
from reprdynamics.server.app import binding_warning, create_app, is_loopback, serve
from reprdynamics.server.routes import STATIC_DIR, safe_static_path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx vs httpx2
    from starlette.testclient import TestClient

N = 12
SECRET = "TOP-SECRET-CONTENT-41"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, Path]:
    """A root with one run, a secret file beside the root, and a symlink leading out."""
    base = tmp_path_factory.mktemp("security")
    (base / "secret.txt").write_text(SECRET)
    outside = noise_run(base / "outside_run", N)
    root = base / "root"
    root.mkdir()
    noise_run(root / "inside", N)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "secret_link.txt").symlink_to(base / "secret.txt")
    return TestClient(create_app(root)), base


# --------------------------------------------------------------------------- static files
@pytest.mark.parametrize(
    "relative",
    [
        "",
        "..",
        "../app.py",
        "a/../../app.py",
        "./index.html",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "..\\app.py",
        "index.html\x00.png",
        ".hidden",
        "dir//file",
    ],
)
def test_safe_static_path_refuses(tmp_path: Path, relative: str) -> None:
    (tmp_path / "index.html").write_text("ok")
    assert safe_static_path(tmp_path, relative) is None


def test_safe_static_path_refuses_symlinks_out(tmp_path: Path) -> None:
    base = tmp_path / "static"
    base.mkdir()
    (base / "app.js").write_text("export {}")
    (tmp_path / "secret.txt").write_text(SECRET)
    (base / "link.js").symlink_to(tmp_path / "secret.txt")
    (base / "sub").mkdir()
    (base / "sub" / "style.css").write_text("body {}")
    assert safe_static_path(base, "app.js") == (base / "app.js").resolve()
    assert safe_static_path(base, "sub/style.css") == (base / "sub" / "style.css").resolve()
    assert safe_static_path(base, "link.js") is None
    assert safe_static_path(base, "sub") is None  # directories are not files
    assert safe_static_path(base, "missing.js") is None


TRAVERSALS = [
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e/app.py",
    "/static/%2e%2e%2fapp.py",
    "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/static/..%2f..%2f..%2f..%2fpyproject.toml",
    "/static/%252e%252e%252fapp.py",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/static/..%5capp.py",
    "/static/....//app.py",
    "/static/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/static/%00",
    "/api/runs/%2e%2e",
    "/api/runs/..%2fsecret.txt",
    "/api/runs/%2e%2e%2f%2e%2e%2fsecret.txt/labels",
    "/api/runs/%2e%2e%2foutside_run",
    "/api/runs/%2e%2e%2foutside_run/labels",
    "/api/runs/escape",
    "/api/runs/escape/labels",
    "/api/runs/secret_link.txt",
    "/api/runs/%2Fetc%2Fpasswd",
    "/api/runs/inside%2f..%2f..%2foutside_run/labels",
]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_traversal_attempts_are_refused(served, url: str) -> None:
    client, _ = served
    response = client.get(url)
    assert response.status_code in (400, 404), (url, response.status_code)
    text = response.text
    assert SECRET not in text
    assert "import " not in text and "[project]" not in text and "root:" not in text
    assert "Traceback" not in text


def test_symlinked_run_outside_the_root_is_not_listed(served) -> None:
    client, _ = served
    names = [r["name"] for r in client.get("/api/runs").json()["runs"]]
    assert names == ["inside"]
    assert client.get("/api/runs/inside/labels").status_code == 200


def test_static_files_are_served_from_the_package(served) -> None:
    client, _ = served
    for path in STATIC_DIR.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            relative = path.relative_to(STATIC_DIR).as_posix()
            response = client.get(f"/static/{relative}")
            assert response.status_code == 200, relative
            assert response.content == path.read_bytes()
            break
    assert client.get("/static/no-such-file.js").status_code == 404


# --------------------------------------------------------------------------- methods, errors
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("PUT", "/api/runs"),
        ("DELETE", "/api/runs/inside"),
        ("PATCH", "/api/runs/inside/fingerprint"),
        ("POST", "/api/runs"),
        ("POST", "/api/runs/inside"),
        ("POST", "/api/runs/inside/labels"),
        ("POST", "/static/plotly.min.js"),
        ("DELETE", "/api/jobs/x"),
    ],
)
def test_only_documented_methods(served, method: str, url: str) -> None:
    client, _ = served
    # A JSON body, so that a POST passes the guard against other pages and meets the router.
    response = client.request(method, url, headers={"Content-Type": "application/json"})
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_unexpected_errors_leak_nothing(served, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = served

    def broken(*args, **kwargs):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(impl, "overview_impl", broken)
    response = client.get("/api/runs/inside")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal error: RuntimeError.", "status": 500}
    assert SECRET not in response.text


def test_nosniff_header(served) -> None:
    client, _ = served
    assert client.get("/api/runs").headers["x-content-type-options"] == "nosniff"
    assert client.get("/nope").headers["x-content-type-options"] == "nosniff"


def test_allowed_hosts(tmp_path: Path) -> None:
    run = noise_run(tmp_path / "run", N)
    app = create_app(run, allowed_hosts=["127.0.0.1", "localhost"])
    assert TestClient(app, base_url="http://127.0.0.1:5000").get("/api/runs").status_code == 200
    assert TestClient(app, base_url="http://evil.example").get("/api/runs").status_code == 400


# --------------------------------------------------------------------------- binding
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_hosts_need_no_warning(host: str) -> None:
    assert is_loopback(host)
    assert binding_warning(host, 5000) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.org"])
def test_exposed_hosts_are_warned_about(host: str) -> None:
    assert not is_loopback(host)
    warning = binding_warning(host, 5000)
    assert warning is not None and warning.startswith("WARNING") and host in warning
    assert "127.0.0.1" in warning


def _capture_uvicorn(monkeypatch: pytest.MonkeyPatch) -> dict:
    import uvicorn

    seen: dict = {}

    def fake_run(app, **kwargs):
        seen["app"] = app
        seen.update(kwargs)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return seen


def test_serve_binds_loopback_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    run = noise_run(tmp_path / "run", N)
    seen = _capture_uvicorn(monkeypatch)
    serve(run, port=5077)
    assert seen["host"] == "127.0.0.1" and seen["port"] == 5077
    err = capsys.readouterr().err
    assert "WARNING" not in err and "http://127.0.0.1:5077/" in err
    # Loopback-bound: only loopback Host names are answered (DNS rebinding).
    evil = TestClient(seen["app"], base_url="http://evil.example")
    assert evil.get("/api/runs").status_code == 400


def test_serve_warns_when_exposed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    run = noise_run(tmp_path / "run", N)
    seen = _capture_uvicorn(monkeypatch)
    serve(run, host="0.0.0.0", port=5078)
    assert seen["host"] == "0.0.0.0"
    err = capsys.readouterr().err
    assert "WARNING" in err and "0.0.0.0:5078" in err


def test_serve_opens_a_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = noise_run(tmp_path / "run", N)
    _capture_uvicorn(monkeypatch)
    opened: list[str] = []

    class ImmediateTimer:
        def __init__(self, delay, function, args=()):
            self.function, self.args = function, args
            self.daemon = False

        def start(self) -> None:
            self.function(*self.args)

    monkeypatch.setattr(app_module.threading, "Timer", ImmediateTimer)
    monkeypatch.setattr(app_module.webbrowser, "open", opened.append)
    serve(run, port=5079, open_browser=True)
    assert opened == ["http://127.0.0.1:5079/"]


def test_unknown_target_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither"):
        create_app(tmp_path / "missing")
    assert os.path.exists(tmp_path)


# --------------------------------------------------------------------------- other pages
@pytest.mark.parametrize("bound", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_every_loopback_bind_refuses_rebinding_host_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: str
) -> None:
    """Regression: binds to ::1 or 127.0.0.2 answered ``Host: evil.example`` with 200."""
    run = noise_run(tmp_path / "run", N)
    seen = _capture_uvicorn(monkeypatch)
    serve(run, host=bound, port=5079)
    app = seen["app"]
    evil = TestClient(app, base_url="http://evil.example:5079")
    response = evil.get("/api/runs")
    assert response.status_code == 400
    assert response.json()["parameter"] == "Host"
    assert response.headers["x-content-type-options"] == "nosniff"
    for name in ("127.0.0.1", "localhost", "[::1]", "127.0.0.2"):
        ok = TestClient(app, base_url=f"http://{name}:5079")
        assert ok.get("/api/runs").status_code == 200, name


def test_exposed_binds_answer_any_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = noise_run(tmp_path / "run", N)
    seen = _capture_uvicorn(monkeypatch)
    serve(run, host="0.0.0.0", port=5080)
    assert TestClient(seen["app"], base_url="http://my-box.lan").get("/api/runs").status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "parameter"),
    [
        ({"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403, "Content-Type"),
        ({"Content-Type": "text/plain"}, 403, "Content-Type"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 403, "Content-Type"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 403, "Content-Type"),
        ({}, 403, "Content-Type"),
        ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "Origin"),
        ({"Content-Type": "application/json", "Origin": "null"}, 403, "Origin"),
        ({"Content-Type": "application/json", "Origin": "http://testserver:81"}, 403, "Origin"),
    ],
    ids=["text-cross-site", "text", "form", "multipart", "none", "json-cross-site", "null", "port"],
)
def test_posts_other_pages_can_send_are_refused_and_compute_nothing(
    tmp_path: Path, headers: dict, status: int, parameter: str
) -> None:
    """Regression: a cross-site text/plain POST started computations and cache writes."""
    run = noise_run(tmp_path / "run", N)
    cache = tmp_path / "run" / "cache"
    before = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    client = TestClient(create_app(run))
    response = client.post("/api/runs/run/fingerprint", content=b'{"k": 3}', headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["parameter"] == parameter
    after = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert after == before  # nothing computed, nothing cached


@pytest.mark.parametrize("origin", [None, "http://testserver"])
def test_same_origin_json_posts_are_answered(tmp_path: Path, origin: str | None) -> None:
    run = noise_run(tmp_path / "run", N)
    client = TestClient(create_app(run))
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if origin is not None:
        headers["Origin"] = origin
    response = client.post("/api/runs/run/fingerprint", content=b'{"k": 3}', headers=headers)
    assert response.status_code in (200, 202), response.text

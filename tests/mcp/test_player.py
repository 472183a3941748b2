"""The MCP Apps player, for real: served by the server, rendered by headless Chromium inside a minimal host page.

The host page plays the MCP Apps host's part of the protocol (answers `ui/initialize`, sends the tool result, answers
`tools/call`), embeds the player from `resources/read`, and writes what the player shows into its own DOM, which
Chromium dumps. The video comes from a loopback `veo-mcp simulator`, so Chromium really loads it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import json
import os
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client

from tests.helpers import SimulatorProcess, current_era, finish, service_settings
from veo_mcp.app import App
from veo_mcp.mcp.server import PLAYER_URI, create_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")

# Test-only: records the player's errors where the host page can read them (same-origin iframe).
ERROR_SHIM = """<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message || e)));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));
const original = console.error.bind(console);
console.error = (...args) => { window.__errors.push(args.join(" ")); original(...args); };
</script>"""

HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>host</title></head><body>
<iframe id="app" sandbox="allow-scripts allow-same-origin" style="width:860px;height:620px;border:0"
        srcdoc="{srcdoc}"></iframe>
<pre id="report">pending</pre>
<script>
const toolResult = {result};
const frame = document.getElementById("app");
const log = [];
window.addEventListener("message", (event) => {{
  const m = event.data;
  if (!m || m.jsonrpc !== "2.0") return;
  log.push(m.method || "response");
  const reply = (result) => frame.contentWindow.postMessage({{ jsonrpc: "2.0", id: m.id, result }}, "*");
  if (m.method === "ui/initialize") {{
    reply({{ protocolVersion: m.params.protocolVersion, hostInfo: {{ name: "test-host", version: "1" }},
             hostCapabilities: {{ serverTools: {{}} }}, hostContext: {{ theme: "light" }} }});
  }} else if (m.method === "ui/notifications/initialized") {{
    frame.contentWindow.postMessage({{ jsonrpc: "2.0", method: "ui/notifications/tool-input",
                                       params: {{ arguments: {{ task_id: toolResult.structuredContent.task_id }} }} }}, "*");
    frame.contentWindow.postMessage({{ jsonrpc: "2.0", method: "ui/notifications/tool-result", params: toolResult }}, "*");
  }} else if (m.method === "tools/call") {{
    reply(toolResult);
  }}
}});
function report() {{
  const doc = frame.contentDocument;
  const video = doc.getElementById("player");
  window.__report = ({{
    videoSrc: video.getAttribute("src"), videoHidden: video.hidden, readyState: video.readyState,
    mediaError: video.error ? video.error.code : null, status: doc.getElementById("status").textContent,
    files: doc.getElementById("files").textContent, errors: frame.contentWindow.__errors, messages: log,
  }});
  document.getElementById("report").textContent = JSON.stringify(window.__report);
}}
frame.addEventListener("load", () => {{
  const video = frame.contentDocument.getElementById("player");
  video.addEventListener("loadedmetadata", report);
  video.addEventListener("error", report);
  setTimeout(report, 15000);
}});
</script></body></html>"""


@pytest.fixture
def loopback_simulator() -> Iterator[str]:
    simulator = SimulatorProcess(speed=1000, api_key="k")
    yield simulator.base_url
    simulator.stop()


@pytest.fixture
def static_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    site = tmp_path / "site"
    site.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None  # type: ignore[assignment]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4): no extra packages."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def wire_pipes() -> None:  # the child reads commands on fd 3 and writes replies on fd 4
            os.dup2(commands_read, 3)
            os.dup2(replies_write, 4)

        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=900,700",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            [CHROMIUM, *flags],
            pass_fds=(commands_read, replies_write, 3, 4),
            preexec_fn=wire_pipes,  # noqa: PLW1509 - only dup2, before exec
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def _read(self, timeout_s: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"chromium did not answer within {timeout_s:g} s")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium went away")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif event.get("method") == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("text")))
            elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found


async def _completed(tmp_path: Path, simulator_url: str) -> tuple[dict[str, Any], types.CallToolResult, str]:
    """download_video's structured content, get_generation's result for the same saved generation, the player."""
    settings = service_settings(tmp_path, api_key="k", base_url=simulator_url)
    service = App(settings)
    async with service.running(), Client(create_server(service), mode=current_era()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        created = await client.call_tool("generate_video", {"prompt": "a lantern festival at night"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        saved = await client.call_tool("download_video", {"task_id": task_id})  # the player lists saved files
        result = await client.call_tool("get_generation", {"task_id": task_id})
        page = (await client.read_resource(PLAYER_URI)).contents[0]
    assert all(tools[name].meta == {"ui": {"resourceUri": PLAYER_URI}} for name in ("get_generation",))
    assert isinstance(page, types.TextResourceContents) and page.mime_type == "text/html;profile=mcp-app"
    return saved.structured_content or {}, result, page.text


def _render(tmp_path: Path, page: str, tool_result: dict[str, Any], site: tuple[Path, str]) -> tuple[Any, Any, Path]:
    """What the player shows for `tool_result` in headless Chromium: its report, console errors, a screenshot."""
    player = page.replace("<head>", "<head>" + ERROR_SHIM, 1)
    folder, origin = site
    (folder / "host.html").write_text(
        HOST_PAGE.format(srcdoc=html.escape(player, quote=True), result=json.dumps(tool_result))
    )
    (folder / "favicon.ico").write_bytes(b"")
    browser = Chromium(tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.navigate", {"url": f"{origin}/host.html"}, session=session)
        evaluated = browser.call(
            "Runtime.evaluate",
            {
                "expression": "new Promise(r => { const w = () => window.__report ? r(window.__report) : "
                "setTimeout(w, 50); w(); })",
                "awaitPromise": True,
                "returnByValue": True,
                "timeout": 30000,
            },
            session=session,
        )
        report = evaluated["result"]["value"]
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
        errors = browser.errors()
    finally:
        browser.close()
    screenshot = tmp_path / "player.png"  # kept out of the repository
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    return report, errors, screenshot


async def test_player_renders_a_completed_generation(
    tmp_path: Path, loopback_simulator: str, static_site: tuple[Path, str]
) -> None:
    saved, result, page = await _completed(tmp_path, loopback_simulator)
    state: dict[str, Any] = result.structured_content or {}
    video_url = state["result_urls"][0]
    tool_result = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    report, errors, screenshot = _render(tmp_path, page, tool_result, static_site)
    assert report["videoSrc"] == video_url and report["videoHidden"] is False
    assert report["errors"] == [] and errors == [], (report["errors"], errors)
    assert "completed" in report["status"] and "100%" in report["status"]
    assert report["mediaError"] is None and report["readyState"] >= 1  # Chromium really loaded the MP4
    path = saved["files"][0]["path"]
    assert state["download_status"] == "saved" and report["files"] == f"Saved: {path}"
    assert report["messages"][:2] == ["ui/initialize", "ui/notifications/initialized"]
    assert screenshot.stat().st_size > 5_000


@pytest.mark.legacy_era
async def test_player_plays_a_saved_files_url_before_the_result_link(
    tmp_path: Path, loopback_simulator: str, static_site: tuple[Path, str]
) -> None:
    """Over HTTP a saved file carries `url` (this server's signed link): the player plays that, not EvoLink's link."""
    saved, result, page = await _completed(tmp_path, loopback_simulator)
    folder, origin = static_site
    (folder / "clip.mp4").write_bytes(Path(saved["files"][0]["path"]).read_bytes())
    tool_result = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    tool_result["structuredContent"]["files"][0]["url"] = f"{origin}/clip.mp4"
    tool_result["structuredContent"]["result_urls"] = [f"{origin}/gone.mp4"]  # would not play
    report, errors, _ = _render(tmp_path, page, tool_result, static_site)
    assert report["videoSrc"] == f"{origin}/clip.mp4" and report["videoHidden"] is False
    assert report["mediaError"] is None and report["readyState"] >= 1, (report, errors)

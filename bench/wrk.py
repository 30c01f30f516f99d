"""wrk, Debian's HTTP load generator, driven with a Lua script that reports one JSON line.

Every request of a run carries a browser's user agent and one of a rotating set of
`X-Forwarded-For` addresses (so per-source limits and the bot filter see visitors), and
`Authorization` when a key is given.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
from typing import Any

_SCRIPT = """
local body = %(body)s
local method = '%(method)s'
local path = '%(path)s'
local counter = 0
request = function()
  counter = counter + 1
  local ip = "10." .. (counter %% 8) .. "." .. (math.random(0, 15)) .. "." .. (math.random(1, 15))
  local headers = {["Content-Type"] = "application/json", ["User-Agent"] = "%(ua)s", ["X-Forwarded-For"] = ip}
  %(auth)s
  return wrk.format(method, path, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write("WRK_JSON " .. string.format(
    '{"requests": %%d, "duration_us": %%d, "non2xx": %%d, "connect": %%d, "read": %%d, "write": %%d, "timeout": %%d,'
    .. ' "p50_ms": %%.3f, "p99_ms": %%.3f, "mean_ms": %%.3f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""


def ensure() -> str:
    """Debian's wrk, installed through the tests' helper when missing."""
    from tests.support.system_packages import ensure_debian_program

    return str(ensure_debian_program(pathlib.Path("/usr/bin/wrk"), "wrk"))


def run(wrk: str, url: str, path: str, method: str, body: str | None, connections: int, seconds: float, *,
        user_agent: str, key: str | None = None) -> dict[str, Any]:
    """One wrk run: its counts, `errors` (socket errors of any kind), latencies in ms,
    `ok` (2xx answers), and `req_per_s` / `ok_per_s` (all answers / 2xx answers per second)."""
    lua_body = "nil" if body is None else "'" + body.replace("'", "\\'") + "'"
    auth = f'headers["Authorization"] = "Bearer {key}"' if key else ""
    script = _SCRIPT % {"body": lua_body, "method": method, "path": path, "ua": user_agent, "auth": auth}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        result = subprocess.run(
            [wrk, f"-t{min(2, connections)}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
             "-s", f.name, url + path], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(f.name)
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {result.stdout}\n{result.stderr}")
    out = json.loads(line.removeprefix("WRK_JSON "))
    out["errors"] = out["connect"] + out["read"] + out["write"] + out["timeout"]
    out["ok"] = out["requests"] - out["non2xx"]
    seconds_run = out["duration_us"] / 1e6
    out["req_per_s"] = round(out["requests"] / seconds_run, 1)
    out["ok_per_s"] = round(out["ok"] / seconds_run, 1)
    return out

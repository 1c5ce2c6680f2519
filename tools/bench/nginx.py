"""The nginx upstream (fixed JSON, static bodies, an approval stamp log) and the nginx injector.

The upstream answers:

* ``/json`` with :data:`FIXED_JSON` (the body every system under test relays);
* ``/static/<size>.json`` with a JSON text file of exactly that many bytes;
* ``POST /oauth2/token`` with :data:`TOKEN_JSON`, a token endpoint for the OAuth 2
  row (TAP asks it once, then serves the cached token);
* ``/approval?i=N`` with :data:`FIXED_JSON`, and appends ``<msec> <N>`` to
  ``approval.log`` the moment it answers, which is when the upstream received
  the request to within a millisecond.

The injector is nginx as a reverse proxy that sets a static ``Authorization``
header: the cheapest credential injector there is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Final

FIXED_JSON: Final = json.dumps(
    {"id": "chatcmpl-bench", "object": "bench.result", "ok": True, "items": [1, 2, 3]},
    separators=(",", ":"),
)
TOKEN_JSON: Final = json.dumps(
    {"access_token": "at_bench_cached_token", "token_type": "Bearer", "expires_in": 86400},
    separators=(",", ":"),
)
BODY_SIZES: Final = {"1k": 1024, "100k": 100 * 1024, "1m": 1024 * 1024, "10m": 10 * 1024 * 1024}

_UPSTREAM_CONF: Final = """\
user root;
worker_processes {workers};
pid {dir}/upstream.pid;
error_log {dir}/upstream-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {dir}/tmp;
    sendfile on;
    tcp_nopush on;
    default_type application/json;
    log_format stamp '$msec $arg_i';
    server {{
        listen 127.0.0.1:{port};
        location = /json {{ return 200 '{body}'; }}
        location = /oauth2/token {{ return 200 '{token}'; }}
        location = /approval {{
            access_log {dir}/approval.log stamp;
            return 200 '{body}';
        }}
        location /static/ {{
            alias {dir}/static/;
            types {{ }}
            default_type application/json;
        }}
    }}
}}
"""

_INJECT_CONF: Final = """\
user root;
worker_processes {workers};
pid {dir}/inject.pid;
error_log {dir}/inject-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    upstream bench_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer {secret}";
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """Path of nginx (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise FileNotFoundError("nginx is not installed (make bench installs nginx-light)")
    return found


def write_static(dir_: Path) -> dict[str, Path]:
    """JSON text files of exactly :data:`BODY_SIZES` bytes under ``dir_/static``."""
    static = dir_ / "static"
    static.mkdir(parents=True, exist_ok=True)
    record = json.dumps({"id": 0, "name": "item", "text": "lorem ipsum dolor sit amet " * 3})
    paths = {}
    for name, size in BODY_SIZES.items():
        head = '{"items":['
        count = max(0, (size - 64) // (len(record) + 1))
        items = ",".join([record] * count)
        body = head + items + '],"pad":"'
        body += "x" * (size - len(body) - 2) + '"}'
        assert len(body) == size
        path = static / f"{name}.json"
        path.write_text(body)
        paths[name] = path
    return paths


def write_upstream_conf(dir_: Path, *, port: int, workers: int = 1) -> Path:
    (dir_ / "tmp").mkdir(parents=True, exist_ok=True)
    conf = dir_ / "upstream.conf"
    conf.write_text(
        _UPSTREAM_CONF.format(
            dir=dir_, port=port, workers=workers, body=FIXED_JSON, token=TOKEN_JSON
        )
    )
    return conf


def write_inject_conf(
    dir_: Path, *, port: int, upstream_port: int, secret: str, workers: int = 2
) -> Path:
    (dir_ / "tmp").mkdir(parents=True, exist_ok=True)
    conf = dir_ / "inject.conf"
    conf.write_text(
        _INJECT_CONF.format(
            dir=dir_, port=port, upstream_port=upstream_port, secret=secret, workers=workers
        )
    )
    return conf


def argv(conf: Path, dir_: Path) -> list[str]:
    """Run nginx in the foreground on ``conf`` with everything it writes under ``dir_``."""
    name = conf.stem
    return [
        nginx_binary(),
        "-p",
        str(dir_),
        "-c",
        str(conf),
        "-e",
        str(dir_ / f"{name}-error.log"),
        "-g",
        "daemon off;",
    ]


def approval_stamps(dir_: Path) -> dict[int, float]:
    """``i`` -> epoch seconds at which the upstream answered ``/approval?i=<i>``."""
    path = dir_ / "approval.log"
    stamps: dict[int, float] = {}
    if not path.exists():
        return stamps
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stamps[int(parts[1])] = float(parts[0])
    return stamps

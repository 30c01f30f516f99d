"""A Citus cluster on this machine: a coordinator and workers on temp data folders and
free ports of their own, run by the system PostgreSQL 15 with Citus installed
(tools/citus/install.sh; docs/scaling.md, "Getting Citus"). `make test`'s Citus test,
`make test-citus` and `CITUS=1 make run` start one; the embedded pgserver PostgreSQL
cannot load Citus, so this uses the system binaries (initdb, pg_ctl) instead.

Every database is made on every node with the Citus extension, and the coordinator's
copy knows the workers (`citus_add_node`): Citus' node metadata is per database.
"""

from __future__ import annotations

import logging
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Self

import psycopg
from psycopg import sql

from platform_core.roles import DatabaseUrls, prepare_database

log = logging.getLogger("platform_core.citus_cluster")

PG_BIN = pathlib.Path(os.environ.get("CITUS_PG_BIN", "/usr/lib/postgresql/15/bin"))
HOST = "127.0.0.1"
SUPERUSER = "postgres"
# Shards per distributed table. Citus' default (32) multiplies every month partition by
# 32 on a laptop-sized cluster; a deployment sets its own (docs/scaling.md).
SHARD_COUNT = int(os.environ.get("CITUS_SHARD_COUNT", "4"))


class CitusUnavailable(RuntimeError):
    """The system PostgreSQL or its Citus extension is missing."""


def citus_library() -> pathlib.Path:
    """Where the Citus shared library of the system PostgreSQL is (or would be)."""
    pg_config = PG_BIN / "pg_config"
    if not pg_config.exists():
        raise CitusUnavailable(f"{pg_config} is missing: the system PostgreSQL 15 is not installed")
    libdir = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=True).stdout
    return pathlib.Path(libdir.strip()) / "citus.so"


def citus_installed() -> bool:
    try:
        return citus_library().exists()
    except CitusUnavailable:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise CitusUnavailable("running as root and no `postgres` system user to run PostgreSQL as") from None


@dataclass
class Node:
    name: str
    data_dir: pathlib.Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"


@dataclass
class CitusCluster:
    """A coordinator and `workers` workers under `base_dir` (a new temp folder if None)."""

    workers: int = 2
    base_dir: pathlib.Path | None = None
    nodes: list[Node] = field(default_factory=list)
    _own_dir: bool = False

    @property
    def coordinator(self) -> Node:
        return self.nodes[0]

    @property
    def worker_nodes(self) -> list[Node]:
        return self.nodes[1:]

    @property
    def admin_url(self) -> str:
        """A superuser URL of the coordinator's `postgres` database."""
        return self.coordinator.url()

    def _run(self, argv: list[str]) -> None:
        user = _server_user()
        result = subprocess.run(argv, capture_output=True, text=True, check=False, user=user.pw_uid if user else None,
                                group=user.pw_gid if user else None, cwd="/")
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")

    def start(self) -> CitusCluster:
        if not citus_installed():
            raise CitusUnavailable(
                f"Citus is not installed in the system PostgreSQL ({citus_library()} is missing): "
                "run tools/citus/install.sh (docs/scaling.md, 'Getting Citus')")
        user = _server_user()
        if self.base_dir is None:
            self.base_dir = pathlib.Path(tempfile.mkdtemp(prefix="partnerlytics-citus-"))
            self._own_dir = True
        if user:
            os.chown(self.base_dir, user.pw_uid, user.pw_gid)
        names = ["coordinator"] + [f"worker-{i}" for i in range(1, self.workers + 1)]
        try:
            for name in names:
                node = Node(name, self.base_dir / name, _free_port())
                self._init(node)
                self.nodes.append(node)
                self._run([str(PG_BIN / "pg_ctl"), "-D", str(node.data_dir), "-l", str(node.data_dir / "log"),
                           "-w", "-t", "60", "start"])
        except BaseException:
            self.stop()
            raise
        log.info("Citus cluster: coordinator on port %d, workers on %s", self.coordinator.port,
                 [w.port for w in self.worker_nodes])
        return self

    def _init(self, node: Node) -> None:
        self._run([str(PG_BIN / "initdb"), "-D", str(node.data_dir), "-U", SUPERUSER, "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        settings = {
            "port": node.port,
            "listen_addresses": f"'{HOST}'",
            "unix_socket_directories": f"'{node.data_dir}'",
            "shared_preload_libraries": "'citus'",
            # Nodes talk over loopback: no TLS between them (a deployment keeps Citus' default).
            "citus.node_conninfo": "'sslmode=disable'",
            "citus.shard_count": SHARD_COUNT,
            "max_connections": 300,
            # A maintenance daemon per database with Citus: room for a test run's databases.
            "max_worker_processes": 64,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "'64MB'",
        }
        with open(node.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# partnerlytics Citus cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def stop(self) -> None:
        """Stops every node (fast shutdown) and removes the data folders this cluster made."""
        for node in reversed(self.nodes):
            if (node.data_dir / "postmaster.pid").exists():
                try:
                    self._run([str(PG_BIN / "pg_ctl"), "-D", str(node.data_dir), "-m", "fast", "-w", "stop"])
                except RuntimeError as exc:
                    log.warning("%s", exc)
        self.nodes.clear()
        if self._own_dir and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def create_database(self, name: str) -> DatabaseUrls:
        """`name` on every node, with both roles, the Citus extension and, on the
        coordinator, the workers registered; the URLs are the coordinator's."""
        for node in self.nodes:
            prepare_database(node.url(), name)
            with psycopg.connect(node.url(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        with psycopg.connect(self.coordinator.url(name), autocommit=True) as conn:
            conn.execute("SELECT citus_set_coordinator_host(%s, %s)", (HOST, self.coordinator.port))
            for worker in self.worker_nodes:
                conn.execute("SELECT citus_add_node(%s, %s)", (HOST, worker.port))
        return prepare_database(self.coordinator.url(), name)

    def drop_database(self, name: str) -> None:
        for node in self.nodes:
            with psycopg.connect(node.url(), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

"""A Citus cluster on this machine: a coordinator and workers on temp data folders and
free ports of their own, run by the system PostgreSQL 15 with Citus installed
(tools/citus/install.sh; docs/scaling.md, "Getting Citus"). `make test`'s Citus test,
`make test-citus` and `CITUS=1 make run` start one; the embedded pgserver PostgreSQL
cannot load Citus, so this uses the system binaries (initdb, pg_ctl) instead.

Citus' node metadata is per database, so a database is made on every node with the
extension, and the coordinator's copy is told the workers (`citus_add_node`). The
coordinator's `postgres` database knows them too: `create_cluster_database` finds them
there, so a coordinator's URL alone (`make test-citus`'s TEST_DATABASE_URL) is enough to
make the test databases.
"""

from __future__ import annotations

import grp
import logging
import os
import pathlib
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Self

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from platform_core.roles import APP, DatabaseUrls, ensure_roles, prepare_database

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


def _reachable(folder: pathlib.Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may enter `folder` and every folder above it (the execute bit of
    its owner, group or others, as the kernel checks for a user other than root)."""
    groups = {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem} | {user.pw_gid}
    for path in [folder, *folder.parents]:
        info = path.stat()
        bit = (stat.S_IXUSR if info.st_uid == user.pw_uid else stat.S_IXGRP if info.st_gid in groups
               else stat.S_IXOTH)
        if not info.st_mode & bit:
            return False
    return True


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
    # Where the nodes' data folders are when the server user cannot reach base_dir (a
    # temp folder of its own, removed on stop; base_dir holds a link to each).
    _nodes_dir: pathlib.Path | None = None

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
        self.base_dir.mkdir(parents=True, exist_ok=True)
        nodes_dir = self.base_dir
        if user:
            os.chown(self.base_dir, user.pw_uid, user.pw_gid)
            if not _reachable(self.base_dir, user):
                # As root in a folder the server user cannot enter (a DATA_DIR under
                # /root, pytest's 0700 tmp_path): initdb would fail "Permission denied".
                self._nodes_dir = nodes_dir = pathlib.Path(tempfile.mkdtemp(prefix="partnerlytics-citus-nodes-"))
                os.chown(nodes_dir, user.pw_uid, user.pw_gid)
                log.info("%s is out of reach of the %s user: the nodes' data is in %s (linked from there)",
                         self.base_dir, user.pw_name, nodes_dir)
        names = ["coordinator"] + [f"worker-{i}" for i in range(1, self.workers + 1)]
        try:
            for name in names:
                node = Node(name, nodes_dir / name, _free_port())
                if nodes_dir != self.base_dir:
                    link = self.base_dir / name
                    if link.is_symlink():
                        link.unlink()
                    link.symlink_to(node.data_dir, target_is_directory=True)
                self._init(node)
                self.nodes.append(node)
                self._run([str(PG_BIN / "pg_ctl"), "-D", str(node.data_dir), "-l", str(node.data_dir / "log"),
                           "-w", "-t", "60", "start"])
            _join(self.admin_url, [n.url() for n in self.worker_nodes], (HOST, self.coordinator.port))
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
        if self._nodes_dir is not None:
            shutil.rmtree(self._nodes_dir, ignore_errors=True)
            self._nodes_dir = None
        if self._own_dir and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def create_database(self, name: str) -> DatabaseUrls:
        return create_cluster_database(self.admin_url, name)

    def drop_database(self, name: str) -> None:
        drop_cluster_database(self.admin_url, name)


def _join(coordinator_url: str, worker_urls: list[str], coordinator: tuple[str, int]) -> None:
    """The extension in each node's database of these URLs, and the workers added to the coordinator's."""
    for url in [coordinator_url, *worker_urls]:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
    with psycopg.connect(coordinator_url, autocommit=True) as conn:
        conn.execute("SELECT citus_set_coordinator_host(%s, %s)", coordinator)
        for url in worker_urls:
            worker = make_url(url)
            conn.execute("SELECT citus_add_node(%s, %s)", (worker.host, worker.port))


def _on_node(url: str, host: str, port: int, database: str = "postgres") -> str:
    return make_url(url).set(host=host, port=port, database=database).render_as_string(hide_password=False)


def worker_addresses(admin_url: str) -> list[tuple[str, int]] | None:
    """The workers the coordinator's `postgres` database knows; None when it has no Citus."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone():
            return None
        return conn.execute(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeid"
        ).fetchall()


def create_cluster_database(admin_url: str, name: str) -> DatabaseUrls:
    """`name` on the coordinator of `admin_url` (a superuser's, of its `postgres` database)
    and on every worker it knows, with both roles and the extension, the workers added;
    the URLs are the coordinator's."""
    workers = worker_addresses(admin_url) or []
    coordinator = make_url(admin_url)
    worker_urls = [_on_node(admin_url, host, port) for host, port in workers]
    for url in [admin_url, *worker_urls]:
        prepare_database(url, name)
    _join(_on_node(admin_url, coordinator.host, coordinator.port, name),
          [_on_node(url, make_url(url).host, make_url(url).port, name) for url in worker_urls],
          (coordinator.host, coordinator.port))
    return prepare_database(admin_url, name)


def drop_cluster_database(admin_url: str, name: str) -> None:
    """Drops `name` on the coordinator first (its connections to the workers end), then on the workers."""
    workers = worker_addresses(admin_url) or []
    for url in [admin_url, *(_on_node(admin_url, host, port) for host, port in workers)]:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# Under this setting at 'error' a statement Citus would run as several tasks (on several
# shards) fails instead: the app role's requests must each stay on one shard, and the few
# statements that span accounts on purpose lift it first (platform_core.db.CROSS_ACCOUNT).
MULTI_SHARD_LEVEL = "citus.multi_task_query_log_level"


def refuse_multi_shard(admin_url: str, role: str = APP) -> None:
    """Makes every multi-shard statement of `role` on this coordinator fail (`make test-citus`)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        ensure_roles(conn)
        conn.execute(sql.SQL("ALTER ROLE {} SET {} = 'error'").format(
            sql.Identifier(role), sql.Identifier(*MULTI_SHARD_LEVEL.split("."))))


def main(argv: list[str]) -> int:
    """`python -m platform_core.citus_cluster [--workers N] [-- command ...]`: starts a
    cluster and runs the command with TEST_DATABASE_URL set to the coordinator's superuser
    URL (`make test-citus`), or, without a command, prints it and runs until interrupted."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m platform_core.citus_cluster", description=main.__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--refuse-multi-shard", action="store_true",
                        help=f"{MULTI_SHARD_LEVEL} = 'error' for the app role: a multi-shard statement fails")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cluster = CitusCluster(workers=args.workers).start()
    except CitusUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.refuse_multi_shard:
            refuse_multi_shard(cluster.admin_url)
        if not command:
            print(f"coordinator: {cluster.admin_url}  (Ctrl-C stops the cluster)", flush=True)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return 0
        env = {**os.environ, "TEST_DATABASE_URL": cluster.admin_url}
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        cluster.stop()


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

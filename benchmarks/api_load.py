"""Load on the FHIR endpoint: p50/p99 latency of POST /fhir/MedicationRequest through to a
verified job (the answer comes after the dose gate), and throughput, at 1, 10 and 50 clients.

Runs `printmed serve` on 127.0.0.1 (2 uvicorn workers by default) on SQLite, then on a
throwaway PostgreSQL 15 cluster (as the postgres user, fsync on like the SQLite store's
synchronous=FULL). Every request is a new single-tablet paediatric order with its own
Idempotency-Key, all of one design (12.5 mg): the service slices it once and remembers the part,
unless --slice-afresh, which makes it slice every order's tablet as a new design would. Each
level sends about --orders orders (at least 2 per client) after a warm-up round, not counted, in
which every client sends 2 at once (so that every worker has had its first orders; the slowest
of them, the first orders a worker takes after start, is printed beside the row).
Usage: python benchmarks/api_load.py [--orders 100] [--backends sqlite,postgresql]
[--clients 1,10] [--workers 2] [--slice-afresh]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from printmed import catalog
from printmed.auth import clients
from printmed.auth.users import create_user
from printmed.store import open_store

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
CONCURRENCY = (1, 10, 50)
WARM_UP = 2  # orders each client sends before the counted ones
SECRET = "benchmark-signing-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def order(n: int) -> dict[str, Any]:
    """The bundled paediatric propranolol order (1 mg/kg, 12.4 kg), one tablet, identifier n."""
    path = catalog.fixtures_dir() / "prescriptions" / "propranolol-child.fhir.json"
    data: dict[str, Any] = json.loads(path.read_text())
    data = copy.deepcopy(data)
    del data["id"]
    data["identifier"][0]["value"] = f"BENCH-{n:06d}"
    data["dispenseRequest"]["quantity"]["value"] = 1
    return data


def as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresCluster:
    """initdb + pg_ctl in a temporary folder on a free port; stopped and removed on exit."""

    def __init__(self) -> None:
        self.parent = Path(tempfile.mkdtemp(prefix="printmed-bench-pg-"))
        self.parent.chmod(0o711)
        self.dir = self.parent / "cluster"
        self.port = free_port()

    def __enter__(self) -> str:
        self.dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = str(self.dir / "data")
        subprocess.run(
            as_postgres([str(PG_BIN / "initdb"), "-D", data, "-U", "postgres", "-A", "trust"]),
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
            " -c max_connections=200"
        )
        subprocess.run(
            as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    data,
                    "-l",
                    str(self.dir / "log"),
                    "-w",
                    "-o",
                    options,
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def __exit__(self, *exc: object) -> None:
        subprocess.run(
            as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.parent, ignore_errors=True)


def prepare_store(database_url: str) -> str:
    """Migrate, add an admin and the benchmark's client; its secret."""
    store = open_store(database_url)
    with store.session() as session:
        admin = create_user(
            session,
            None,
            username="bench-admin",
            full_name="Benchmark",
            role="admin",
            password="benchmark-password",
        )
        _, secret = clients.register_client(
            session,
            admin,
            client_id="bench",
            name="Load generator",
            scopes=(clients.SCOPE_ORDER_WRITE, clients.SCOPE_ORDER_READ),
        )
    store.dispose()
    return secret


def start_server(
    data_dir: Path, database_url: str, port: int, workers: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PRINTMED_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "PRINTMED_TOKEN_SECRET": SECRET,
        "PRINTMED_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printmed",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not start")


async def load(
    base: str, token: str, clients_n: int, per_client: int, start_n: int, keepalive: bool = True
) -> dict[str, Any]:
    """`clients_n` clients each sending `per_client` orders one after another, after a warm-up
    round in which the same clients send WARM_UP orders each at once (not counted): with
    keep-alive each client stays on the uvicorn worker that accepted it, so the warm-up is what
    brings every worker its first orders (a single client reached only one of them)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    latencies: list[float] = []
    warm_up: list[float] = []
    failures: list[str] = []

    async def one_client(
        index: int, client: httpx.AsyncClient, count: int, kept: list[float]
    ) -> None:
        for k in range(count):
            n = start_n + index * per_client + k
            body = json.dumps(order(n))
            began = time.perf_counter()
            answer = await client.post(
                f"{base}/fhir/MedicationRequest",
                content=body,
                headers={**headers, "Idempotency-Key": f"bench-{n}"},
            )
            elapsed = time.perf_counter() - began
            if answer.status_code == 201:
                kept.append(elapsed)
            else:
                failures.append(f"{answer.status_code}: {answer.text[:200]}")

    # Without keep-alive every order is a new connection (as many integration engines send them).
    limits = httpx.Limits(
        max_connections=clients_n + 5, max_keepalive_connections=None if keepalive else 0
    )
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        # orders numbered after the counted ones' (index clients_n + 1 and on)
        await asyncio.gather(
            *(one_client(clients_n + 1 + i, client, WARM_UP, warm_up) for i in range(clients_n))
        )
        began = time.perf_counter()
        await asyncio.gather(
            *(one_client(i + 1, client, per_client, latencies) for i in range(clients_n))
        )
        wall = time.perf_counter() - began
    timed = sorted(latencies)
    return {
        "clients": clients_n,
        "orders": len(timed),
        "failures": failures[:3],
        "failed": len(failures),
        "p50_s": statistics.median(timed) if timed else None,
        "p99_s": timed[math.ceil(0.99 * len(timed)) - 1] if timed else None,  # nearest rank
        "max_s": timed[-1] if timed else None,
        "throughput_per_s": len(timed) / wall if wall else None,
        "warm_up_max_s": max(warm_up) if warm_up else None,
    }


def check_verified(base: str, token: str) -> dict[str, int]:
    """Task status of every order the benchmark made (all must be accepted/verified)."""
    headers = {"Authorization": f"Bearer {token}"}
    bundle = httpx.get(
        f"{base}/fhir/Task", params={"_count": 500}, headers=headers, timeout=60
    ).json()
    counts: dict[str, int] = {}
    for entry in bundle.get("entry", []):
        code = entry["resource"]["businessStatus"]["coding"][0]["code"]
        counts[code] = counts.get(code, 0) + 1
    return counts


def run_backend(
    name: str, database_url: str, data_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    secret = prepare_store(database_url)
    port = free_port()
    server = start_server(data_dir, database_url, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        token = httpx.post(
            f"{base}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "bench",
                "client_secret": secret,
            },
        ).json()["access_token"]
        results = []
        start_n = 0
        for clients_n in args.clients:
            per_client = max(2, args.orders // clients_n)
            result = asyncio.run(
                load(base, token, clients_n, per_client, start_n, not args.no_keepalive)
            )
            start_n += (2 * clients_n + 1) * per_client
            results.append(result)
            print(format_row(name, result), flush=True)
        return {"backend": name, "results": results, "tasks": check_verified(base, token)}
    finally:
        server.terminate()
        server.wait(30)


def format_row(backend: str, r: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:7.0f} ms"

    return (
        f"{backend:<10} {r['clients']:>3} clients  {r['orders']:>4} orders  p50 {ms(r['p50_s'])}"
        f"  p99 {ms(r['p99_s'])}  max {ms(r['max_s'])}  {r['throughput_per_s'] or 0:6.2f} orders/s"
        f"  failed {r['failed']}  (warm-up max {ms(r.get('warm_up_max_s'))})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100, help="orders per concurrency level")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--clients",
        type=lambda text: [int(n) for n in text.split(",")],
        default=list(CONCURRENCY),
        help="concurrency levels, e.g. 1,10,50",
    )
    parser.add_argument(
        "--no-keepalive", action="store_true", help="a new connection for every order"
    )
    parser.add_argument(
        "--slice-afresh",
        action="store_true",
        help="the service slices every order's tablet afresh (PRINTMED_SLICED_PARTS_KEPT=0); "
        "by default it remembers parts, and every order here is the same design",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    args = parser.parse_args()
    if args.slice_afresh:
        os.environ["PRINTMED_SLICED_PARTS_KEPT"] = "0"
    report = []
    for backend in args.backends.split(","):
        data_dir = Path(tempfile.mkdtemp(prefix=f"printmed-bench-{backend}-"))
        # the service key and checkpoints of this run's store, beside its data folder: the seeding
        # here and the server's workers sign the same chain with the same key
        key_dir = Path(f"{data_dir}-keys")
        os.environ["PRINTMED_KEY_DIR"] = str(key_dir)
        try:
            if backend == "sqlite":
                url = f"sqlite:///{data_dir / 'printmed.sqlite'}"
                report.append(run_backend(backend, url, data_dir, args))
            else:
                with PostgresCluster() as url:
                    report.append(run_backend(backend, url, data_dir, args))
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            shutil.rmtree(key_dir, ignore_errors=True)
    for entry in report:
        print(f"{entry['backend']}: tasks by job state {entry['tasks']}")
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

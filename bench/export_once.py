"""Builds the oldest queued export in a fresh process and prints its wall time and peak
memory as JSON (used by bench/vouchers.py; settings from the environment)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import psutil


class RssSampler:
    """The process's resident memory, sampled every 10 ms in a thread while a job runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> "RssSampler":
        self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def _mb(value: int) -> float:
    return round(value / 2**20, 1)


async def main() -> None:
    import openpyxl  # noqa: F401 - loaded before the baseline, as in a running worker

    from platform_core import db
    from platform_core.config import require
    from services.voucher.config import voucher_settings
    from services.voucher.exports import ExportWorker

    url = require("DATABASE_URL")
    engine = db.create_engine(url, pool_size=2)
    worker = ExportWorker(engine, url, voucher_settings())
    job = await worker.claim()
    baseline = psutil.Process().memory_info().rss
    with RssSampler() as rss:
        t0 = time.perf_counter()
        completed = await worker.process(job)
        wall = round(time.perf_counter() - t0, 2)
    if not completed:
        raise SystemExit(f"export {job.id} did not complete")
    size = (voucher_settings().export_dir / str(job.account_id) / f"{job.id}.{job.format}").stat().st_size
    await engine.dispose()
    print(json.dumps({"export_id": job.id, "completed": completed, "wall_s": wall, "peak_rss_mb": _mb(rss.peak),
                      "baseline_rss_mb": _mb(baseline), "file_bytes": size}))


if __name__ == "__main__":
    asyncio.run(main())

"""The serving proxy's statistics and its emulation of the lab's closed loop against one replica, with TF Serving's
request threads or its batch scheduler (benchmarks/serving_proxy.py runs them)."""

from __future__ import annotations

import base64
import json
import queue
import random
import statistics
import threading
import time
from dataclasses import dataclass


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def stats(values: list[float], digits: int = 3) -> dict[str, float]:
    """The median and the range, as the JSON carries them."""
    return {
        "median": round(statistics.median(values), digits),
        "low": round(min(values), digits),
        "high": round(max(values), digits),
    }


def spread(values: list[float], unit: str = "", digits: int = 2) -> str:
    """The median and the range: `17.10 (16.90-17.60)`."""
    return f"{statistics.median(values):.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def call(predict, images: list[bytes]) -> None:
    import tensorflow as tf

    predict(images=tf.constant(images))


@dataclass(frozen=True)
class Batching:
    max_batch_size: int
    timeout_s: float

    def describe(self) -> str:
        return f"batching, max {self.max_batch_size}, {self.timeout_s * 1000:.0f} ms timeout"


def closed_loop(predict, body: bytes, users: int, seconds: float, batching: Batching | None) -> dict:
    """Users post the lab's body and wait 0.8-0.9 s; the 'server' parses it and runs the model."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    requests: queue.Queue = queue.Queue()
    running = threading.Semaphore(16)  # TF Serving runs requests concurrently on its request threads

    def parse(payload: bytes) -> bytes:
        return base64.b64decode(json.loads(payload)["instances"][0]["b64"])

    def serve_batches() -> None:
        while time.monotonic() < stop + 5:
            try:
                first = requests.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [first]
            # As TF Serving's batch scheduler: the timeout runs from the first request's arrival, not from
            # when the batch thread got to it (it may have been busy with the previous batch meanwhile).
            deadline = first[0] + batching.timeout_s if batching else 0
            while batching and len(batch) < batching.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(requests.get(timeout=remaining) if remaining > 0 else requests.get_nowait())
                except queue.Empty:
                    break
            call(predict, [image for _, image, _ in batch])
            for _, _, done in batch:
                done.set()

    def user() -> None:
        while time.monotonic() < stop:
            started = time.monotonic()
            image = parse(body)
            if batching:
                done = threading.Event()
                requests.put((time.monotonic(), image, done))
                done.wait()
            else:
                with running:
                    call(predict, [image])
            with lock:
                latencies.append(time.monotonic() - started)
            time.sleep(random.uniform(0.8, 0.9))

    threads = [threading.Thread(target=user) for _ in range(users)]
    if batching:
        threads.append(threading.Thread(target=serve_batches))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "img_per_s": len(latencies) / seconds,
        "p50": percentile(latencies, 0.5),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
    }


def closed_loops(predict, body: bytes, seconds: float, repeat: int) -> dict:
    settings = [None, Batching(8, 0.0), Batching(8, 0.010)]
    results: dict[tuple[int, int], list[dict]] = {}
    for _ in range(repeat):
        for users in (4, 10, 22):
            for index in random.sample(range(len(settings)), len(settings)):
                results.setdefault((users, index), []).append(
                    closed_loop(predict, body, users, seconds, settings[index])
                )
    print(f"\nThe lab's closed loop ({seconds:.0f} s a run; median (range) of {repeat} runs, settings interleaved):")
    for (users, index), runs in sorted(results.items()):
        batching = settings[index]
        name = batching.describe() if batching else "unbatched, up to 16 at once"
        rate = spread([run["img_per_s"] for run in runs])
        tails = "  ".join(f"{key} {spread([run[key] for run in runs], ' s', 3)}" for key in ("p50", "p95", "p99"))
        figures = f"img/s {rate}  {tails}"
        print(f"  {users:>2} users  {name:<34} {figures}", flush=True)
    return {
        "closed_loop": [
            {
                "users": users,
                "setting": settings[index].describe() if settings[index] else "unbatched",
                "img_per_s": stats([run["img_per_s"] for run in runs]),
                **{f"{key}_s": stats([run[key] for run in runs]) for key in ("p50", "p95", "p99")},
            }
            for (users, index), runs in sorted(results.items())
        ]
    }

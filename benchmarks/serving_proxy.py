"""A stand-in for one TF Serving replica on CPU: what its settings do to ResNet101 under the lab's load.

It exports Keras' ResNet101 (random weights: the same FLOPs, no download) as a
SavedModel whose signature does what the lab's `serving_preprocess` does (JPEG bytes →
decode → resize to 224x224 → classify → top 5), loads it back as TF Serving would, and
measures, on this machine:

- cold and warm: the first call after loading against the calls after it;
- batch sizes: images per second when calls carry 1, 2, 4 or 8 images;
- thread settings: TensorFlow's intra- and inter-op pools, each in a process of its own
  (they are fixed at start), interleaved over rounds because a shared host drifts;
- the lab's closed loop: users that send one image and wait 0.8-0.9 s, served either as
  TF Serving does by default (each request runs at once, up to 16 at a time) or through
  a batch scheduler emulated the way TF Serving's works (a queue; a batch thread takes
  up to max_batch_size requests, waiting at most batch_timeout for more);
- the non-model work of a request: JSON parsing and base64 decoding of the lab's body.

It prints throughput and p50/p95/p99 for each. `--smoke` uses a tiny model and runs in
seconds. TensorFlow is a benchmark-only dependency: requirements-benchmark.txt.

    .venv-bench/bin/python benchmarks/serving_proxy.py [--smoke] [--seconds 30]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def grace_hopper() -> bytes:
    """The lab's image, as matplotlib ships it."""
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        return file.read()


def export_model(directory: Path, smoke: bool) -> None:
    import tensorflow as tf

    if smoke:
        inputs = tf.keras.Input((224, 224, 3))
        x = tf.keras.layers.Conv2D(8, 3, strides=4, activation="relu")(inputs)
        x = tf.keras.layers.GlobalAveragePooling2D()(x)
        model = tf.keras.Model(inputs, tf.keras.layers.Dense(1000, activation="softmax")(x))
    else:
        model = tf.keras.applications.ResNet101(weights=None)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serving_preprocess(images):
        def decode(jpeg):
            image = tf.io.decode_jpeg(jpeg, channels=3)
            return tf.image.resize(tf.cast(image, tf.float32), (224, 224))

        pixels = tf.map_fn(decode, images, fn_output_signature=tf.float32)
        probabilities = model(tf.keras.applications.resnet.preprocess_input(pixels), training=False)
        top = tf.math.top_k(probabilities, k=5)
        return {"labels": top.indices, "probabilities": top.values}

    module = tf.Module()
    module.model = model
    tf.saved_model.save(module, str(directory), signatures={"serving_preprocess": serving_preprocess})


def load(directory: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(directory)).signatures["serving_preprocess"]


def call(predict, images: list[bytes]) -> None:
    import tensorflow as tf

    predict(images=tf.constant(images))


def measure_threads(directory: Path, image: bytes, calls: int) -> dict:
    """In a child process with the thread settings in its environment: warm img/s for single calls."""
    predict = load(directory)
    call(predict, [image])
    started = time.perf_counter()
    for _ in range(calls):
        call(predict, [image])
    return {"img_per_s": calls / (time.perf_counter() - started)}


def thread_settings(directory: Path, calls: int, rounds: int) -> None:
    cores = os.cpu_count() or 1
    settings = [(intra, inter) for intra in sorted({1, cores}) for inter in sorted({1, cores})]
    results: dict[tuple[int, int], list[float]] = {setting: [] for setting in settings}
    for _ in range(rounds):
        for intra, inter in random.sample(settings, len(settings)):
            command = [sys.executable, __file__, "--child-threads", str(directory), "--calls", str(calls)]
            env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(intra), "TF_NUM_INTEROP_THREADS": str(inter),
                   "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip
            output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
            results[(intra, inter)].append(json.loads(output.splitlines()[-1])["img_per_s"])
    print("\nThread settings (warm single-image calls, img/s per round; interleaved):")
    for (intra, inter), rates in results.items():
        rounds = ", ".join(f"{rate:.2f}" for rate in rates)
        print(f"  intra {intra:2d}, inter {inter:2d}: median {statistics.median(rates):5.2f}  ({rounds})")


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
            deadline = time.monotonic() + batching.timeout_s if batching else 0
            while batching and len(batch) < batching.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(requests.get(timeout=remaining) if remaining > 0 else requests.get_nowait())
                except queue.Empty:
                    break
            call(predict, [image for image, _ in batch])
            for _, done in batch:
                done.set()

    def user() -> None:
        while time.monotonic() < stop:
            started = time.monotonic()
            image = parse(body)
            if batching:
                done = threading.Event()
                requests.put((image, done))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a tiny model and short runs: seconds, not minutes")
    parser.add_argument("--seconds", type=float, default=30, help="length of each closed-loop run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the thread settings")
    parser.add_argument("--calls", type=int, default=20, help="calls per measurement")
    parser.add_argument("--child-threads", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TF Serving 2.8 ships with oneDNN's custom operations off; so does this proxy (they change latency).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    image = grace_hopper()
    if args.child_threads:
        print(json.dumps(measure_threads(args.child_threads, image, args.calls)))
        return
    seconds, calls = (3.0, 3) if args.smoke else (args.seconds, args.calls)
    print(f"Machine: {os.cpu_count()} cores, {sys.platform}; model: {'tiny (smoke)' if args.smoke else 'ResNet101'}")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "model"
        export_model(directory, args.smoke)
        loaded = time.perf_counter()
        predict = load(directory)
        print(f"Loaded the SavedModel in {time.perf_counter() - loaded:.1f} s")

        first = time.perf_counter()
        call(predict, [image])
        cold = time.perf_counter() - first
        warm = []
        for _ in range(calls):
            started = time.perf_counter()
            call(predict, [image])
            warm.append(time.perf_counter() - started)
        warm_p50 = percentile(warm, 0.5)
        print(f"\nCold first call: {cold:.3f} s; warm: p50 {warm_p50:.3f} s ({cold / warm_p50:.1f}x)")

        print("\nBatch sizes (one call at a time):")
        for size in (1, 2, 4, 8):
            started = time.perf_counter()
            for _ in range(max(2, calls // size)):
                call(predict, [image] * size)
            elapsed = time.perf_counter() - started
            print(f"  batch {size}: {max(2, calls // size) * size / elapsed:6.2f} img/s")

        body = json.dumps({"signature_name": "serving_preprocess",
                           "instances": [{"b64": base64.b64encode(image).decode()}]}).encode()  # fmt: skip
        started = time.perf_counter()
        for _ in range(200):
            base64.b64decode(json.loads(body)["instances"][0]["b64"])
        print(f"\nJSON parse + base64 decode of the lab's body: {(time.perf_counter() - started) / 200 * 1000:.2f} ms")

        thread_settings(directory, calls, 1 if args.smoke else args.rounds)

        print(f"\nThe lab's closed loop ({seconds:.0f} s each, settings in turn at each user count):")
        print(f"  {'users':>5}  {'setting':<34} {'img/s':>6} {'p50':>7} {'p95':>7} {'p99':>7}")
        settings = [None, Batching(8, 0.0), Batching(8, 0.010)]
        for users in (4, 10, 22):
            for batching in settings:
                result = closed_loop(predict, body, users, seconds, batching)
                name = batching.describe() if batching else "unbatched, up to 16 at once"
                print(f"  {users:>5}  {name:<34} {result['img_per_s']:6.2f} {result['p50']:6.2f}s "
                      f"{result['p95']:6.2f}s {result['p99']:6.2f}s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

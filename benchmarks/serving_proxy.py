"""A stand-in for one TF Serving replica on CPU: what its settings do to ResNet101 under the lab's load.

It exports Keras' ResNet101 (random weights: the same FLOPs, no download) as a
SavedModel whose signature does what the lab's `serving_preprocess` does (JPEG bytes →
decode → resize to 224x224 → classify → top 5), loads it back as TF Serving would, and
measures, on this machine:

- cold and warm: the first call after loading against the calls after it, each time in a fresh process;
- batch sizes: images per second when calls carry 1, 2, 4 or 8 images;
- thread settings: TensorFlow's intra- and inter-op pools, each in a process of its own
  (they are fixed at start), interleaved over rounds because a shared host drifts;
- the lab's closed loop: users that send one image and wait 0.8-0.9 s, served either as
  TF Serving does by default (each request runs at once, up to 16 at a time) or through
  a batch scheduler emulated the way TF Serving's works (a queue; a batch closes when it
  holds max_batch_size requests or when batch_timeout has passed since its first request
  arrived, and one batch thread runs it);
- the non-model work of a request: JSON parsing and base64 decoding of the lab's body.

Every figure is measured --repeat times (3 by default), interleaved so that a drifting host
touches each setting alike, and printed as the median and the range; all of them are also written as JSON
(--json), in the shape of benchmarks/serving_proxy.json, the copy the rehearsal reads
(localcluster/load_model.py). `--smoke` uses a tiny model and runs in about a minute. TensorFlow is a
benchmark-only dependency: requirements-benchmark.txt.

    .venv-bench/bin/python benchmarks/serving_proxy.py [--smoke] [--seconds 30] [--repeat 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script: the repository's root on the path, for the sibling module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.closed_loop import call, closed_loops, percentile, spread, stats


def cpu_model() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    return f"{model}, {'with' if ' avx512f' in info else 'without'} AVX-512"


def grace_hopper() -> bytes:
    """The lab's image, as matplotlib ships it."""
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()


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
    module.model = model  # pyright: ignore[reportAttributeAccessIssue] - tf.Module tracks what is set on it
    tf.saved_model.save(module, str(directory), signatures={"serving_preprocess": serving_preprocess})


def load(directory: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(directory)).signatures["serving_preprocess"]


def measure_cold_start(directory: Path, image: bytes, calls: int) -> dict:
    """In a fresh process, as a new replica: the first call after loading, and the warm calls after it."""
    predict = load(directory)
    started = time.perf_counter()
    call(predict, [image])
    cold = time.perf_counter() - started
    warm = []
    for _ in range(calls):
        started = time.perf_counter()
        call(predict, [image])
        warm.append(time.perf_counter() - started)
    return {"cold": cold, "warm_p50": percentile(warm, 0.5)}


def in_child(mode: str, directory: Path, calls: int, env: dict[str, str] | None = None) -> dict:
    command = [sys.executable, __file__, mode, str(directory), "--calls", str(calls)]
    output = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.splitlines()[-1])


def cold_starts(directory: Path, calls: int, repeat: int) -> dict:
    runs = [in_child("--child-cold", directory, calls) for _ in range(repeat)]
    ratios = [run["cold"] / run["warm_p50"] for run in runs]
    print(
        f"\nCold first call, fresh process: {spread([run['cold'] for run in runs], ' s', 3)}; warm p50 "
        f"{spread([run['warm_p50'] for run in runs], ' s', 3)}; cold/warm {spread(ratios, 'x', 1)}"
    )
    return {
        "cold_first_call_s": stats([r["cold"] for r in runs]),
        "warm_call_p50_s": stats([r["warm_p50"] for r in runs]),
    }


def measure_threads(directory: Path, image: bytes, calls: int) -> dict:
    """In a child process with the thread settings in its environment: warm img/s for single calls."""
    predict = load(directory)
    call(predict, [image])
    started = time.perf_counter()
    for _ in range(calls):
        call(predict, [image])
    return {"img_per_s": calls / (time.perf_counter() - started)}


def thread_settings(directory: Path, calls: int, rounds: int) -> dict:
    cores = os.cpu_count() or 1
    settings = [(intra, inter) for intra in sorted({1, cores}) for inter in sorted({1, cores})]
    results: dict[tuple[int, int], list[float]] = {setting: [] for setting in settings}
    for _ in range(rounds):
        for intra, inter in random.sample(settings, len(settings)):
            env = {"TF_NUM_INTRAOP_THREADS": str(intra), "TF_NUM_INTEROP_THREADS": str(inter)}
            results[(intra, inter)].append(in_child("--child-threads", directory, calls, env)["img_per_s"])
    print("\nThread settings (warm single-image calls, img/s, each in its own process; interleaved):")
    for (intra, inter), rates in results.items():
        print(f"  intra {intra:2d}, inter {inter:2d}: {spread(rates)}")
    return {"threads_img_per_s": {f"intra {intra}, inter {inter}": stats(r) for (intra, inter), r in results.items()}}


def batch_sizes(predict, image: bytes, calls: int, repeat: int) -> dict:
    rates: dict[int, list[float]] = {size: [] for size in (1, 2, 4, 8)}
    for _ in range(repeat):
        for size in random.sample(list(rates), len(rates)):
            started = time.perf_counter()
            for _ in range(max(2, calls // size)):
                call(predict, [image] * size)
            rates[size].append(max(2, calls // size) * size / (time.perf_counter() - started))
    print("\nBatch sizes (one call at a time, img/s):")
    for size, values in rates.items():
        print(f"  batch {size}: {spread(values)}")
    return {"batch_img_per_s": {str(size): stats(values) for size, values in rates.items()}}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a tiny model and short runs: about a minute")
    parser.add_argument("--seconds", type=float, default=30, help="length of each closed-loop run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median and range)")
    parser.add_argument("--calls", type=int, default=20, help="calls per measurement")
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("reports") / time.strftime("serving-proxy-%Y%m%d-%H%M%S.json"),
        metavar="PATH",
        help="where to write every figure as JSON (default: reports/serving-proxy-<time>.json); copy it over "
        "benchmarks/serving_proxy.json to make it the rehearsal's inputs",
    )
    parser.add_argument("--child-threads", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-cold", type=Path, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TF Serving 2.8 ships with oneDNN's custom operations off; so does this proxy (they change latency).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    image = grace_hopper()
    if args.child_threads:
        print(json.dumps(measure_threads(args.child_threads, image, args.calls)))
        return
    if args.child_cold:
        print(json.dumps(measure_cold_start(args.child_cold, image, args.calls)))
        return
    seconds, calls, repeat = (3.0, 3, 1) if args.smoke else (args.seconds, args.calls, args.repeat)
    print(
        f"Host: {os.cpu_count()} vCPUs of {cpu_model()}, {sys.platform}; Python {sys.version.split()[0]}; "
        f"model: {'tiny (smoke)' if args.smoke else 'ResNet101'}; {repeat} run(s) of each figure",
        flush=True,
    )
    import tensorflow as tf

    figures: dict = {
        "measured": time.strftime("%Y-%m-%d"),
        "host": {
            "vcpus": os.cpu_count(),
            "cpu": cpu_model(),
            "tensorflow": tf.__version__,
            "python": sys.version.split()[0],
        },
        "model": "tiny (smoke)" if args.smoke else "ResNet101",
        "runs": repeat,
        "closed_loop_seconds": seconds,
    }
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "model"
        export_model(directory, args.smoke)
        figures.update(cold_starts(directory, calls, repeat))
        predict = load(directory)
        call(predict, [image])
        figures.update(batch_sizes(predict, image, calls, repeat))

        body = json.dumps(
            {"signature_name": "serving_preprocess", "instances": [{"b64": base64.b64encode(image).decode()}]}
        ).encode()
        started = time.perf_counter()
        for _ in range(200):
            base64.b64decode(json.loads(body)["instances"][0]["b64"])
        print(f"\nJSON parse + base64 decode of the lab's body: {(time.perf_counter() - started) / 200 * 1000:.2f} ms")

        figures.update(thread_settings(directory, calls, repeat))
        figures.update(closed_loops(predict, body, seconds, repeat))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nEvery figure: {args.json}")


if __name__ == "__main__":
    main()

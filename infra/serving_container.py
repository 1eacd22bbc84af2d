"""The TF Serving container: its flags, the files it reads, and probes that make Ready mean warm.

TF Serving 2.8.0's flags (main.cc at the tag): --tensorflow_intra_op_parallelism,
--tensorflow_inter_op_parallelism, --rest_api_num_threads, --enable_batching with
--batching_parameters_file, and --monitoring_config_file, whose Prometheus endpoint is
served on the REST port. A flag left at 0 or off keeps TF Serving's default (the lab).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra import timing
from infra.node_pools import GPU_RESOURCE
from infra.pods import restricted_container_security, tmp_mount
from infra.settings_values import ServerTuning, ServingSettings

CONTAINER_NAME = "tf-serving"
GRPC_PORT = 8500
REST_PORT = 8501
REST_PORT_NAME = "http"
CONFIG_DIR = "/etc/tfserving"
CONFIG_VOLUME = "server-config"
BATCHING_FILE = "batching.config"
MONITORING_FILE = "monitoring.config"
METRICS_PATH = "/monitoring/prometheus/metrics"
# The probes' schedule: a replica is Ready at the first readiness try after the startup probe saw the model loaded
# (the rehearsal's model of a replica's start, localcluster/cloud.py, follows it).
STARTUP_PERIOD_S = 10
READINESS_INITIAL_DELAY_S = 10
READINESS_PERIOD_S = 5

MONITORING = f"""\
prometheus_config {{
  enable: true,
  path: "{METRICS_PATH}"
}}
"""
# GPU replicas, after TF Serving's batching guide: the largest batch the model runs well (NVIDIA's ResNet
# figures on a T4 gain up to batch 8-32), a 1 ms timeout ("slightly above zero ... smooths out batch sizes
# when the request rate is low"), a batch thread per vCPU, and a queue of as many batches as threads, for
# online serving that prefers scaling out to queueing.
GPU_BATCHING = """\
max_batch_size { value: 32 }
batch_timeout_micros { value: 1000 }
num_batch_threads { value: 4 }
max_enqueued_batches { value: 4 }
"""
# CPU replicas with serverBatching: batches of up to 8 and no timeout (a batch takes what has arrived), which
# measured the same as 10 ms at every load (benchmarks/README.md, 3 runs: +14 % img/s and p95 -55 % at 22 users
# against no batching); one batch thread, so that each batch runs on all cores.
CPU_BATCHING = """\
max_batch_size { value: 8 }
batch_timeout_micros { value: 0 }
num_batch_threads { value: 1 }
max_enqueued_batches { value: 100 }
"""

# A 32x32 JPEG: what the readiness probe sends once, so that the first, slow prediction after a load runs
# before the pod takes traffic (benchmarks/README.md: 0.75 s cold against 0.10 s warm, in a fresh process).
WARM_UP_JPEG_B64 = (
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1x"
    "eXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAAR"
    "CAAgACADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEG"
    "E1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWG"
    "h4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEB"
    "AQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYk"
    "NOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0"
    "tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwClRRRXKdIUUUUAFFFFABRRRQB//9k="
)
WARM_MARKER = "/tmp/warm"
# The container's first process, TF Serving itself: a restarted container has a new one.
SERVER_STAT = "/proc/1/stat"
# The image has bash but no curl: the probe speaks HTTP over bash's /dev/tcp. Until one prediction has
# succeeded it sends the warm-up request; after that it asks for the model's metadata, which a loaded
# model answers cheaply. A model without the lab's serving_preprocess signature answers 400: it cannot be
# warmed this way, and its metadata decides, as before.
READINESS_SCRIPT = f"""\
request() {{
  exec 3<>/dev/tcp/127.0.0.1/{REST_PORT} || return 1
  printf '%s %s HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\n' "$1" "$2" >&3
  printf 'Content-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s' "${{#3}}" "$3" >&3
  read -r _ status _ <&3
  exec 3<&-
  echo "$status"
}}
# The marker names the server process it warmed (its start time, field 22 of /proc/1/stat, counted after the
# command name, which may hold spaces): /tmp survives a container restart, the warmth of the old process does not.
read -r stat < {SERVER_STAT}
set -- ${{stat##*) }}
server="${{20}}"
if [ "$(cat {WARM_MARKER} 2>/dev/null)" != "$server" ]; then
  body='{{"signature_name": "serving_preprocess", "instances": [{{"b64": "{WARM_UP_JPEG_B64}"}}]}}'
  status=$(request POST "/v1/models/$MODEL_NAME:predict" "$body")
  case "$status" in
    200|400) echo "$server" > {WARM_MARKER} ;;
    *) exit 1 ;;
  esac
fi
[ "$(request GET "/v1/models/$MODEL_NAME/metadata" "")" = 200 ]
"""


@dataclass(frozen=True)
class ServerFiles:
    """The files TF Serving reads from its ConfigMap, and the flags that point at them."""

    data: dict[str, str]
    args: list[str]


def server_files(tuning: ServerTuning, gpu: bool) -> ServerFiles:
    data = {MONITORING_FILE: MONITORING}
    args = [f"--monitoring_config_file={CONFIG_DIR}/{MONITORING_FILE}"]
    batching = GPU_BATCHING if gpu else CPU_BATCHING if tuning.batching else None
    if batching is not None:
        data[BATCHING_FILE] = batching
        args += ["--enable_batching", f"--batching_parameters_file={CONFIG_DIR}/{BATCHING_FILE}"]
    return ServerFiles(data, args)


def tuning_args(tuning: ServerTuning) -> list[str]:
    flags = (
        ("--tensorflow_intra_op_parallelism", tuning.intra_op_threads),
        ("--tensorflow_inter_op_parallelism", tuning.inter_op_threads),
        ("--rest_api_num_threads", tuning.rest_api_threads),
    )
    return [f"{flag}={value}" for flag, value in flags if value]


# The serving pod's only writable place, /tmp (the warm-up marker, TensorFlow's scratch).
SERVING_TMP_SIZE = "1Gi"
# Node disk a replica may use: /tmp and its logs (the kubelet rotates them at 10 MiB); a node under disk pressure
# evicts pods past their request first, and one past its limit is evicted before it fills the node.
SERVING_EPHEMERAL_REQUEST, SERVING_EPHEMERAL_LIMIT = "1Gi", "2Gi"


def serving_resources(settings: ServingSettings, gpu: bool) -> k8s.core.v1.ResourceRequirementsArgs:
    """A serving replica's requests and limits; the warm placeholder asks for the very same."""
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={
            "cpu": settings.cpu_request,
            "memory": settings.memory_request,
            "ephemeral-storage": SERVING_EPHEMERAL_REQUEST,
        },
        limits={
            "memory": settings.memory_limit,
            "ephemeral-storage": SERVING_EPHEMERAL_LIMIT,
            **({GPU_RESOURCE: "1"} if gpu else {}),
        },
    )


def config_volume(config_map_name: pulumi.Input[str]) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name=CONFIG_VOLUME, config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map_name)
    )


def tf_serving_container(
    settings: ServingSettings,
    env_config_map: pulumi.Input[str],
    image: str,
    files: ServerFiles,
    gpu: bool,
) -> k8s.core.v1.ContainerArgs:
    grpc_open = k8s.core.v1.TCPSocketActionArgs(port=GRPC_PORT)
    return k8s.core.v1.ContainerArgs(
        name=CONTAINER_NAME,
        image=image,
        args=[
            "--model_name=$(MODEL_NAME)",
            "--model_base_path=$(MODEL_PATH)",
            *files.args,
            *tuning_args(settings.tuning),
        ],
        env_from=[
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=env_config_map))
        ],
        ports=[
            k8s.core.v1.ContainerPortArgs(name=REST_PORT_NAME, container_port=REST_PORT, protocol="TCP"),
            k8s.core.v1.ContainerPortArgs(name="grpc", container_port=GRPC_PORT, protocol="TCP"),
        ],
        # The image is pinned (a tag, or a digest by setting): pulling it again for every new replica would only add
        # the pull to a scale-up. The same reason is the checkov skip CKV_K8S_15 (infra/pods.py).
        image_pull_policy="IfNotPresent",
        resources=serving_resources(settings, gpu),
        security_context=restricted_container_security(),
        volume_mounts=[
            tmp_mount(),
            k8s.core.v1.VolumeMountArgs(name=CONFIG_VOLUME, mount_path=CONFIG_DIR, read_only=True),
        ],
        # TF Serving opens its ports once the model is loaded; allow a slow first load before liveness counts.
        startup_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=grpc_open,
            period_seconds=STARTUP_PERIOD_S,
            failure_threshold=timing.MODEL_LOAD_SECONDS // STARTUP_PERIOD_S,
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(tcp_socket=grpc_open, period_seconds=10, failure_threshold=3),
        # Ready means loaded and warm: one real prediction has run (see READINESS_SCRIPT).
        readiness_probe=k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=["/bin/bash", "-c", READINESS_SCRIPT]),
            initial_delay_seconds=READINESS_INITIAL_DELAY_S,
            period_seconds=READINESS_PERIOD_S,
            # The cold first prediction takes seconds on a busy CPU.
            timeout_seconds=30,
            failure_threshold=10,
        ),
    )

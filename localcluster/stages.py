"""How kwok plays the nodes, pods and load balancers of the local control plane: its Stage objects.

Standalone kwok applies no stage of its own, so each lifecycle step it must play is one Stage here. Two sets:
`instant` (every node Ready and every pod Running at once: the engine tests) and `timed` (the scaling
rehearsal: a node or pod that carries READY_AT becomes Ready at that moment, so boots, image pulls and model
loads take the time they take on a cloud; kwok's relative delays would restart on every update, an absolute
time does not).
"""

from __future__ import annotations

from pathlib import Path

import yaml

# An RFC 3339 time: kwok waits until then before the node or pod becomes Ready.
READY_AT = "rehearsal.tfserving.dev/ready-at"
_READY = '.status.conditions.[] | select( .type == "Ready" ) | .status'

_CONDITIONS = """\
{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- type: {{ .type | Quote }}
  status: {{ .status | Quote }}
  reason: {{ .reason | Quote }}
  message: {{ .message | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
"""
# Conditions of a healthy kubelet, an address, the kubelet port (kwok's server) and the allocatable the node
# was created with.
_NODE_READY = (
    _CONDITIONS
    + """\
addresses:
- type: InternalIP
  address: {{ NodeIP | Quote }}
- type: Hostname
  address: {{ .metadata.name | Quote }}
{{ with NodePort }}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ . }}
{{ end }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: {{ printf "kwok-%s" Version | Quote }}
  osImage: kwok
  machineID: ""
  systemUUID: ""
  bootID: ""
phase: Running
"""
)
# Every container started and ready; a pod IP from kwok's range, so that endpoints list it.
_POD_RUNNING = """\
{{ $now := Now }}
phase: Running
startTime: {{ $now | Quote }}
conditions:
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ with NodeIPsWith .spec.nodeName }}
hostIP: {{ index . 0 | Quote }}
{{ end }}
{{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) \
( or .metadata.namespace "" ) }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
"""
# A Job's pod runs to completion at once; the Job controller then marks the Job complete.
_POD_SUCCEEDED = """\
{{ $now := Now }}
phase: Succeeded
conditions:
- {type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
"""
# What a cloud's service controller writes once its load balancer exists. Loopback, so that nothing sent to
# the "external IP" of a local run ever leaves this machine.
_INGRESS = """\
status:
  loadBalancer:
    ingress:
    - ip: 127.0.0.1
      ipMode: VIP
"""


def _expression(key: str, operator: str, *values: str) -> dict:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


def _stage(name: str, kind: str, match: list[dict], next_step: dict, **spec: object) -> dict:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": kind},
            "selector": {"matchExpressions": match},
            "next": next_step,
            **spec,
        },
    }


def _gate(timed: bool) -> tuple[list[dict], dict]:
    """Instant: no condition. Timed: only objects that carry READY_AT, and not before that moment."""
    if not timed:
        return [], {}
    annotation = f'.metadata.annotations["{READY_AT}"]'
    return [_expression(annotation, "Exists")], {"delay": {"durationFrom": {"jq": {"expression": annotation}}}}


def stages(timed: bool = False) -> list[dict]:
    """Every stage kwok plays; `timed` holds new nodes and pods until their READY_AT (the rehearsal)."""
    gate, delay = _gate(timed)
    not_ready, alive = _expression(_READY, "NotIn", "True"), _expression(".metadata.deletionTimestamp", "DoesNotExist")
    load_balancer = [
        _expression(".spec.type", "In", "LoadBalancer"),
        _expression(".status.loadBalancer.ingress", "DoesNotExist"),
    ]
    result = [
        _stage("node-ready", "Node", [not_ready, *gate], {"statusTemplate": _NODE_READY}, **delay),
        # Well inside the node controller's 40-second grace period; kwok renews the node Leases as well.
        _stage(
            "node-heartbeat",
            "Node",
            [_expression(_READY, "In", "True")],
            {"statusTemplate": _CONDITIONS},
            delay={"durationMilliseconds": 15000, "jitterDurationMilliseconds": 5000},
            immediateNextStage=True,
        ),
        _stage(
            "pod-running",
            "Pod",
            [alive, _expression(".status.phase", "In", "Pending"), *gate],
            {"statusTemplate": _POD_RUNNING},
            **delay,
        ),
        _stage(
            "job-pod-succeeded",
            "Pod",
            [
                alive,
                _expression(".status.phase", "In", "Running"),
                _expression(".metadata.ownerReferences.[].kind", "In", "Job"),
            ],
            {"statusTemplate": _POD_SUCCEEDED},
        ),
        # A kubelet confirms a graceful deletion by removing the pod: kwok does it at once.
        _stage("pod-deleted", "Pod", [_expression(".metadata.deletionTimestamp", "Exists")], {"delete": True}),
        _stage(
            "load-balancer-ingress",
            "Service",
            load_balancer,
            {"patches": [{"subresource": "status", "type": "merge", "template": _INGRESS}]},
        ),
    ]
    if timed:
        # Nodes made before the run (the pools' minimum) carry no READY_AT: they are up already.
        result.append(
            _stage(
                "node-up",
                "Node",
                [not_ready, _expression(gate[0]["key"], "DoesNotExist")],
                {"statusTemplate": _NODE_READY},
            )
        )
    return result


def write_stages(path: Path, timed: bool = False) -> Path:
    path.write_text(yaml.safe_dump_all(stages(timed), sort_keys=False))
    return path

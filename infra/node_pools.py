"""The stack's node pools as the pods see them: names, taints, the pool label, and what each pool may grow to.

Kept apart from the cluster component so that placement, cost and the local cluster read the same values.
"""

SYSTEM_POOL_NAME = "system-pool"
SYSTEM_POOL_MAX_NODES = 2
# Boot disks of the pools that hold no model and only small images (GKE's own pods, the copy Job, Locust):
# GKE's 100 GB default would count 100 GB a node against the project's SSD_TOTAL_GB quota (pd-balanced).
SMALL_POOL_DISK_GB = 30
# In-cluster Locust workers (loadGeneratorNodes): a small machine, two worker processes per node, none at rest.
LOAD_POOL_NAME = "load-pool"
LOAD_POOL_MACHINE_TYPE = "e2-standard-2"
# Only load-generator pods tolerate it: they never take CPU from the CPU-scaled serving pods, and serving
# pods (which select their own pool) never land there.
LOAD_TAINT_KEY = "tfserving.dev/load-generator"
LOAD_TAINT_VALUE = "true"
# Serving nodes are tainted so that only serving pods (which tolerate it) land there: GKE's own
# Deployments (kube-dns, metrics-server, konnectivity, ...) go to the system pool instead, and each
# serving node keeps room for one replica. GKE's DaemonSets tolerate every taint and still run there.
SERVING_TAINT_KEY = "tfserving.dev/serving"
SERVING_TAINT_VALUE = "true"
NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
# The extended resource a GPU pod asks for; GKE taints every GPU node with the same key, so that only such pods
# land there.
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = GPU_RESOURCE

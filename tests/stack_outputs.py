"""Stack outputs as the program exports them, for the tests of both sides: tests/infra asserts the program exports
exactly these, and tests/loadtest hands them to the load-test package through a stand-in `pulumi` CLI."""

# Stack dev with loadGeneratorNodes set: what `python -m loadtest --in-cluster` reads.
LOAD_GENERATOR = {
    "nodePool": "load-pool",
    "taintKey": "tfserving.dev/load-generator",
    "taintValue": "true",
    "restUrl": "http://image-classifier.tfserving.svc.cluster.local:8501",
    "service": "image-classifier",
    "namespace": "tfserving",
    "port": 8501,
}

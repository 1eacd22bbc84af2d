"""Where an in-cluster run's pods may connect to: the workers to their master and to the serving pods, and both
to the cluster's DNS; nothing else. Ingress stays open: the master's report port is reached through the API
server's pod proxy, from the control plane's own address."""

from __future__ import annotations

DNS = [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]


def network_policies(
    namespace: str, labels: dict[str, dict[str, str]], master_port: int, serving_namespace: str, serving_port: int
) -> list[dict]:
    """The master's and the workers' egress policies; `labels` are each role's pod labels."""

    def policy(role: str, egress: list[dict]) -> dict:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"locust-{role}", "namespace": namespace, "labels": labels[role]},
            "spec": {"podSelector": {"matchLabels": labels[role]}, "policyTypes": ["Egress"], "egress": egress},
        }

    to_master = {"to": [{"podSelector": {"matchLabels": labels["master"]}}], "ports": [{"port": master_port}]}
    # The Service's pods, in the stack's namespace, on the port it forwards to.
    to_serving = {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": serving_namespace}}}],
        "ports": [{"port": serving_port, "protocol": "TCP"}],
    }
    return [policy("master", DNS), policy("worker", [*DNS, to_master, to_serving])]

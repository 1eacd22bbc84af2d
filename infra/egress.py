"""Where the stack's pods may connect to: the egress half of their NetworkPolicies (the ingress half is beside each).

TF Serving and the model copy reach Cloud Storage over HTTPS, resolve its name through the cluster's DNS (kube-dns,
or NodeLocal DNSCache on 169.254.20.10: port 53 anywhere), and get their Google token from the node's GKE metadata
server (169.254.169.254:80, which with Dataplane V2 answers on 169.254.169.252:988). Google's API addresses are
Google's to change, so HTTPS is allowed to any address; nothing else, in the cluster or out of it. Enforced where
the cluster's network plugin enforces NetworkPolicy (GKE Dataplane V2, which the stack's cluster runs).
"""

from __future__ import annotations

import pulumi_kubernetes as k8s

DNS_PORT = 53
HTTPS_PORT = 443
METADATA_SERVERS = (("169.254.169.254/32", 80), ("169.254.169.252/32", 988))


def _to(port: int, protocol: str = "TCP", cidr: str | None = None) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol=protocol)],
        to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))]
        if cidr
        else None,
    )


def google_apis() -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """DNS, HTTPS and the node's metadata server: what reading or writing Cloud Storage as a Google account needs."""
    return [
        _to(DNS_PORT, "UDP"),
        _to(DNS_PORT, "TCP"),
        _to(HTTPS_PORT),
        *(_to(port, cidr=cidr) for cidr, port in METADATA_SERVERS),
    ]

"""What every pod the stack runs shares: the restricted Pod Security Standard and a writable /tmp."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

# Any high UID works: neither TF Serving nor gcloud needs a user of its own, and a high one cannot clash.
RUN_AS_ID = 10001
TMP_VOLUME = "tmp"


def restricted_pod_security() -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS_ID,
        run_as_group=RUN_AS_ID,
        fs_group=RUN_AS_ID,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_container_security() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


def tmp_volume(size_limit: str) -> k8s.core.v1.VolumeArgs:
    """The root filesystem is read-only; scratch space goes here."""
    scratch = k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size_limit)
    return k8s.core.v1.VolumeArgs(name=TMP_VOLUME, empty_dir=scratch)


def tmp_mount() -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name=TMP_VOLUME, mount_path="/tmp")


def checkov_skips(image: str, reasons: dict[str, str]) -> dict[str, str]:
    """Checkov checks that do not fit a workload, each with its reason, as annotations checkov reads."""
    reasons = {
        **reasons,
        "CKV_K8S_15": "IfNotPresent on a pinned image: re-pulling on every new pod would slow it down",
    }
    if "@sha256:" not in image:
        reasons["CKV_K8S_43"] = "Pinned by tag; set the image setting to a digest to pin harder"
    return {f"checkov.io/skip{index}": f"{check}={reason}" for index, (check, reason) in enumerate(reasons.items(), 1)}


def serve_nothing_policy(
    resource_name: str,
    name: str,
    namespace: str,
    labels: dict[str, str],
    egress: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs],
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """For pods that serve nothing: no traffic may reach them, and they reach only `egress` (none: nowhere)."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            policy_types=["Ingress", "Egress"],
            egress=egress,
        ),
        opts=opts,
    )

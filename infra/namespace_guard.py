"""A guard between the stack's namespace and everything the stack puts in it, on a cluster it shares.

Deleting a namespace deletes all it holds. `pulumi destroy` deletes the stack's objects first, then this guard,
then the namespace (each depends on the one before). The guard's delete lists what the namespace still holds
(infra/ownership.py): if another team's object is there, or the list cannot be read, it fails with one line that
names them, and the namespace stays; destroy can run again once they are moved, or the namespace be kept for good
by dropping it from the stack's state. A Pulumi dynamic provider: its code runs in the Pulumi CLI's provider
process for Python (pulumi-resource-pulumi-python), with this repository importable, as `pulumi destroy` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic

from infra.ownership import ClusterTarget, ClusterUnreadableError, foreign_objects

# Objects named in the one-line refusal; the rest are counted.
NAMED_AT_MOST = 5


class NamespaceGuardProvider(pulumi.dynamic.ResourceProvider):
    """Creates nothing; refuses to be deleted while the namespace holds what the stack did not make."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=props["namespace"], outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        namespace = props["namespace"]
        keep_for_good = f"`pulumi state delete '{props['namespaceUrn']}' --yes`, then destroy again"
        try:
            foreign = foreign_objects(
                ClusterTarget(Path(props["kubeconfig"]), props["context"]), namespace, props["instance"]
            )
        except ClusterUnreadableError as error:
            raise RuntimeError(
                f"Namespace {namespace} stays: whether it holds another team's objects cannot be told ({error}). "
                f"Run destroy again once the cluster answers, or keep the namespace: {keep_for_good}."
            ) from error
        if foreign:
            more = len(foreign) - NAMED_AT_MOST
            named = ", ".join(foreign[:NAMED_AT_MOST]) + (f" and {more} more" if more > 0 else "")
            raise RuntimeError(
                f"Namespace {namespace} stays: it holds objects this stack did not make ({named}). Move or delete "
                f"them and destroy again, or keep the namespace: {keep_for_good}."
            )


class NamespaceGuard(pulumi.dynamic.Resource):
    """Delete it only after everything the stack put in the namespace, and before the namespace."""

    def __init__(
        self,
        name: str,
        namespace: pulumi.Resource,
        namespace_name: str,
        target: ClusterTarget,
        instance: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "namespace": namespace_name,
            "namespaceUrn": namespace.urn,
            "kubeconfig": str(target.kubeconfig),
            "context": target.context,
            "instance": instance,
        }
        super().__init__(
            NamespaceGuardProvider(),
            name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace])),
        )

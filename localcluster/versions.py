"""The one home of every pinned tool version the local control plane builds (docs/local-cluster.md).

Each entry names a Go module at an exact version and the main packages built from it. Anything else a
build needs (replace lists, godebug lines, the versions of a module's own siblings) is derived from
that module's go.mod at build time, so bumping a version here is the whole upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KUBERNETES_VERSION = "v1.36.3"
PULUMI_VERSION = "v3.274.1"
# The newest pulumi-kubernetes provider whose source the Go module proxy serves: only the commit of
# v4.25.0 (pseudo-version below); later tags' commits are refused (403), so the engine tests run the
# Python SDK of requirements.txt against this provider (docs/local-cluster.md says what that means).
KUBERNETES_PROVIDER_VERSION = "v4.25.0"
KUBERNETES_PROVIDER_PSEUDO_VERSION = "v4.0.0-20260115033456-f47bc2d6f199"
ETCD_VERSION = "v3.7.3"
KWOK_VERSION = "v0.8.0"
# v0.8.0 is the approved release; the proxy also serves v0.9.0, which is not one.
METRICS_SERVER_VERSION = "v0.8.0"
# A cold build of every tool below on 2 cores with empty Go caches, as on a new machine (docs/local-cluster.md has
# the measurement): the one figure the CLI's help, the README and the docs give.
COLD_BUILD_MINUTES = 17


@dataclass(frozen=True)
class Tool:
    """One Go module at one version, and the binaries built from its main packages."""

    name: str
    module: str
    version: str
    # binary name -> main package path inside the module ("" is the module's root package).
    binaries: dict[str, str]
    # Linker -X stamps: Go variable -> value, so the binary reports its real version.
    stamps: dict[str, str] = field(default_factory=dict)
    # Sibling modules the target requires at an unpublished placeholder (v0.0.0) and replaces with a local
    # folder get this version of their published release.
    sibling_version: str = ""
    # Our own main package, copied from localcluster/<dir>, instead of one of the module's.
    own_main: str = ""
    # Files the own main embeds, copied from this folder of the target module.
    embed_from: str = ""

    @property
    def key(self) -> str:
        """The cache folder name: a new version never reuses an old build."""
        return f"{self.name}-{self.version}"


def _kubernetes_stamps(version: str) -> dict[str, str]:
    major, minor, _ = version.lstrip("v").split(".")
    base = "k8s.io/component-base/version"
    return {
        f"{base}.gitVersion": version,
        f"{base}.gitMajor": major,
        f"{base}.gitMinor": minor,
        f"{base}.gitTreeState": "clean",
    }


TOOLS: tuple[Tool, ...] = (
    Tool(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=ETCD_VERSION,
        binaries={"etcd": ""},
    ),
    Tool(
        name="kwok",
        module="sigs.k8s.io/kwok",
        version=KWOK_VERSION,
        binaries={"kwok": "cmd/kwok"},
    ),
    Tool(
        name="metrics-server",
        module="sigs.k8s.io/metrics-server",
        version=METRICS_SERVER_VERSION,
        binaries={"metrics-server": "cmd/metrics-server"},
    ),
    Tool(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=KUBERNETES_VERSION,
        binaries={
            "kube-apiserver": "cmd/kube-apiserver",
            "kube-controller-manager": "cmd/kube-controller-manager",
            "kube-scheduler": "cmd/kube-scheduler",
        },
        stamps=_kubernetes_stamps(KUBERNETES_VERSION),
        # k8s.io/api v0.36.3 is published from the tree of kubernetes v1.36.3.
        sibling_version="v0" + KUBERNETES_VERSION[2:],
    ),
    Tool(
        name="pulumi-resource-kubernetes",
        module="github.com/pulumi/pulumi-kubernetes/provider/v4",
        version=KUBERNETES_PROVIDER_PSEUDO_VERSION,
        binaries={"pulumi-resource-kubernetes": ""},
        stamps={"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version": KUBERNETES_PROVIDER_VERSION},
        # The module's cmd/ embeds generated files that are not in the module zip: our main embeds the
        # schema and mapping files that are.
        own_main="provider",
        embed_from="cmd/pulumi-resource-kubernetes",
    ),
    Tool(
        name="pulumi",
        module="github.com/pulumi/pulumi/pkg/v3",
        version=PULUMI_VERSION,
        binaries={"pulumi": "cmd/pulumi"},
        # Without it the CLI says v0.0.0 and the Automation API refuses it as older than 3.181.
        stamps={"github.com/pulumi/pulumi/sdk/v3/go/common/version.Version": PULUMI_VERSION},
    ),
)

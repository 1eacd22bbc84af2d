"""Runs the real Pulumi program under mocks and records what it declares.

Config is loaded as the CLI loads it: Pulumi.yaml's defaults, overlaid by
Pulumi.<stack>.yaml. The mock monitor records every registration with its
inputs, provider and dependencies; the mocks fill in what providers compute.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import ROOT, SETTINGS
from pulumi.runtime.stack import run_pulumi_func

from infra.node_fit import MIB, SHARED_CORE_TYPES, node_capacity

PROJECT_DIR = Path(__file__).resolve().parents[2]
TEST_PROJECT_ID = "lab-project-123"
EXTERNAL_IP = "34.123.45.67"


def _config_text(value: Any) -> str:
    """Config values reach the program as strings; structured ones as JSON, as the CLI passes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def stack_config(
    stack: str, project_dir: Path = PROJECT_DIR, settings: Mapping[str, object] | None = None, **overrides: Any
) -> dict[str, str]:
    """The config the CLI would hand the program for `stack`, plus gcp:project, then `settings` and `overrides`
    (short keys of the project, or full keys such as gcp:project)."""
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    name = project["name"]
    config: dict[str, str] = {}
    for key, declaration in (project.get("config") or {}).items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(declaration, dict):
            if "default" in declaration:
                config[full_key] = _config_text(declaration["default"])
            elif "value" in declaration:
                config[full_key] = _config_text(declaration["value"])
        else:
            config[full_key] = _config_text(declaration)
    stack_file = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text()) or {}
    for key, value in (stack_file.get("config") or {}).items():
        config[key] = _config_text(value)
    config.setdefault("gcp:project", TEST_PROJECT_ID)
    for key, value in {**(settings or {}), **overrides}.items():
        full_key = key if ":" in key else f"{name}:{key}"
        config[full_key] = _config_text(value)
    return config


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    provider: str
    parent: str
    dependencies: list[str]
    ignore_changes: list[str]
    custom_timeouts: dict[str, str]
    protect: bool = False
    delete_before_replace: bool = False


@dataclass
class Deployment:
    resources: list[Registered]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[Registered]:
        return [resource for resource in self.resources if resource.type == type_]

    def one(self, type_: str) -> Registered:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def named(self, type_: str, name: str) -> Registered:
        found = [resource for resource in self.of_type(type_) if resource.name == name]
        assert len(found) == 1, f"expected one {type_} named {name}, found {[r.name for r in self.of_type(type_)]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(resource for resource in self.resources if resource.urn == urn)


def _whole_numbers(value: Any) -> Any:
    """The gRPC structs carry every number as a float; Kubernetes schemas want integers where they are whole."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


class ComputingMocks(pulumi.runtime.Mocks):
    """Returns inputs as state, plus the fields the real providers compute and the program reads."""

    def __init__(self, load_balancer_ingress: dict[str, str]):
        self.load_balancer_ingress = load_balancer_ingress

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        if args.typ == "gcp:container/cluster:Cluster":
            state["endpoint"] = "203.0.113.10"
            state["masterAuth"] = {"clusterCaCertificate": "Q0EtREFUQQ=="}
            location, name = args.inputs["location"], args.inputs["name"]
            state["id"] = f"projects/{TEST_PROJECT_ID}/locations/{location}/clusters/{name}"
        elif args.typ == "gcp:serviceaccount/account:Account":
            email = f"{args.inputs['accountId']}@{TEST_PROJECT_ID}.iam.gserviceaccount.com"
            state.update(
                email=email,
                member=f"serviceAccount:{email}",
                name=f"projects/{TEST_PROJECT_ID}/serviceAccounts/{email}",
            )
        elif args.typ == "kubernetes:core/v1:Service":
            state["status"] = {"loadBalancer": {"ingress": [self.load_balancer_ingress]}}
        return state.get("id", f"{args.name}-id"), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        if args.token == "gcp:compute/getZones:getZones":
            # What Compute Engine lists for the regions the stacks use; any other region has none.
            zones = {"us-central1": "abcf", "europe-west4": "abc", "us-east1": "bcd", "us-west1": "abc"}
            region = args.args["region"]
            return {"names": [f"{region}-{letter}" for letter in zones.get(region, "")]}, []
        if args.token == "gcp:compute/getMachineTypes:getMachineTypes":
            return {"machineTypes": compute_engine_machine_types(args.args["zone"], args.args["filter"])}, []
        raise NotImplementedError(f"no mock for invoke {args.token}")


# What Compute Engine lists (gcloud compute machine-types describe): name -> (vCPUs, MB, architecture), for types
# the table does not know or where it matters; any other type it lists as node_fit.py's table has it (a type the
# table refuses, it does not list). A zone in NOT_OFFERED lacks that type.
MACHINE_TYPES = {
    "n1-standard-4": (4, 15360, "X86_64"),
    "n1-standard-8": (8, 30720, "X86_64"),
    "n2-standard-8": (8, 32768, "X86_64"),
    "e2-standard-2": (2, 8192, "X86_64"),
    "e2-medium": (2, 4096, "X86_64"),
    "n4d-standard-8": (8, 32768, "X86_64"),
    "c4a-standard-8": (8, 32768, "ARM64"),
    "c3-highcpu-8": (8, 16384, "X86_64"),
}
NOT_OFFERED = {("us-central1-f", "n4d-standard-8")}


def compute_engine_machine_types(zone: str, filter_: str) -> list[dict]:
    names = re.findall(r'name = "([^"]+)"', filter_)
    catalog = dict(MACHINE_TYPES)
    for name in names:
        capacity = node_capacity(name)
        if name not in catalog and capacity is not None:
            catalog[name] = (capacity.vcpus, int(capacity.memory_bytes / MIB), "X86_64")
    listed = [name for name in names if name in catalog and (zone, name) not in NOT_OFFERED]
    return [
        {
            "name": name,
            "guestCpus": catalog[name][0],
            "memoryMb": catalog[name][1],
            "architecture": catalog[name][2],
            "isSharedCpus": name in SHARED_CORE_TYPES,
            "accelerators": [],
            "bundledLocalSsds": [],
            "deprecateds": [],
            "description": name,
            "maximumPersistentDisks": 128,
            "maximumPersistentDisksSizeGb": 263168,
            "selfLink": f"zones/{zone}/machineTypes/{name}",
        }
        for name in listed
    ]


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            timeouts = request.customTimeouts
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=_whole_numbers(rpc.deserialize_properties_unwrap_secrets(request.object)[0]),
                    provider=request.provider,
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    ignore_changes=list(request.ignoreChanges),
                    custom_timeouts={"create": timeouts.create, "update": timeouts.update},
                    protect=bool(request.protect),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                )
            )
        return response


def _run_main(project_dir: Path) -> None:
    runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")


def run_program(
    config: dict[str, str],
    stack: str = "dev",
    project_dir: Path = PROJECT_DIR,
    load_balancer_ingress: dict[str, str] | None = None,
) -> Deployment:
    """Run __main__.py as `pulumi up` would, with every provider mocked; raise what the program raises.

    The Service's load balancer answers with `load_balancer_ingress`, by default GKE's: an IP.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ROOT.set(None)
    pulumi.runtime.set_all_config(config)
    monitor = RecordingMonitor(ComputingMocks(load_balancer_ingress or {"ip": EXTERNAL_IP}))
    pulumi.runtime.set_mocks(monitor.mocks, project="tfserving-gke", stack=stack, preview=False, monitor=monitor)
    # Pulumi's private runtime state, reset between programs; pulumi is pinned exactly (requirements.txt), and a
    # new pin is taken only with the tests passing.
    SETTINGS.rpc_manager.clear()  # pyright: ignore[reportAttributeAccessIssue]
    SETTINGS.outputs.clear()  # pyright: ignore[reportAttributeAccessIssue]
    previous_dir = Path.cwd()
    os.chdir(project_dir)
    try:
        loop.run_until_complete(run_pulumi_func(lambda: _run_main(project_dir)))
        root = pulumi.runtime.get_root_resource()
        outputs, secrets = {}, set()
        for key, value in getattr(root, "outputs", {}).items():
            output = pulumi.Output.from_input(value)
            outputs[key] = loop.run_until_complete(output.future())
            if loop.run_until_complete(output.is_secret()):
                secrets.add(key)
        return Deployment(resources=monitor.registered, outputs=outputs, secret_outputs=secrets)
    finally:
        os.chdir(previous_dir)
        loop.close()
        asyncio.set_event_loop(None)


def refused_settings(monkeypatch, config: dict[str, str], stack: str = "dev") -> str:
    """Run the program on settings it must refuse: the SettingsError's text, after checking nothing was registered."""
    from infra.settings import SettingsError

    registered: list[str] = []
    original = RecordingMonitor.RegisterResource

    def spy(self, request):
        registered.append(request.type)
        return original(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", spy)
    try:
        run_program(config, stack=stack)
    except SettingsError as error:
        assert [kind for kind in registered if kind != "pulumi:pulumi:Stack"] == [], "nothing may be registered"
        return str(error)
    raise AssertionError("the program accepted settings it must refuse")


def failure(monkeypatch, **overrides) -> str:
    """The one-line refusal of stack dev with these settings changed."""
    return refused_settings(monkeypatch, stack_config("dev", **overrides))

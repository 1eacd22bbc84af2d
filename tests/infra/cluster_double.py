"""A loopback Kubernetes API for the existing-cluster stack under mocks: what the program asks before it creates
anything (infra/ownership.py), answered from a dict of the objects that exist. Anything else is 404, as for an
object that does not exist; `status` makes every answer that error instead, as a refusing API would."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.loopback import JsonHandler, LoopbackServer


@dataclass
class ClusterDouble:
    # Path (e.g. /api/v1/namespaces/tfserving) -> the object there.
    objects: dict[str, dict] = field(default_factory=dict)
    status: int = 0
    asked: list[str] = field(default_factory=list)
    url: str = ""

    def start(self) -> str:
        double = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                double.asked.append(self.path)
                if double.status:
                    self.answer(double.status, {"kind": "Status", "code": double.status, "message": "refused"})
                elif self.path in double.objects:
                    self.answer(200, double.objects[self.path])
                else:
                    self.answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})

        self.server = LoopbackServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def namespace(self, name: str, labels: dict[str, str]) -> None:
        self.objects[f"/api/v1/namespaces/{name}"] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels},
        }


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "mine", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "mine",
            }
        )
    )
    return path

"""A local Kubernetes control plane and the real Pulumi engine, built from Go modules, on 127.0.0.1."""

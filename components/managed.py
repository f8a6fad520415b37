"""The label on every Kubernetes object this program creates, so they can be
found (and shown to be gone after a destroy)."""

MANAGED_BY = {"app.kubernetes.io/managed-by": "runai-cluster"}

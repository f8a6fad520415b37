"""Node preparation: the scripts that make a bare Ubuntu machine a Kubernetes (GPU) node."""

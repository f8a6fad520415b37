"""What the pinned upstream versions accept, recorded in the repository.

Helm ignores values keys a chart lacks and Knative and ingress-nginx ignore
ConfigMap keys they do not read, so a misspelt key is a silent no-op. This
tool reads each pinned chart (its values.yaml, values.schema.json, vendored
sub-charts and shipped CRDs) and the ConfigMap keys of Knative Serving and
of the ingress controller from the upstream repository at the pinned tag,
and stores the key paths under stacks/contracts/; the unit tier checks every
key the program sets against them.

    python -m tools.contracts write   # after a version bump: regenerate
    python -m tools.contracts check   # every pinned chart, manifest and image exists upstream

Upstream repositories are cloned (blobless) into ~/.cache, or read from
`--git-dirs DIR` holding one git directory per repository named
`<owner>+<name>`."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "stacks" / "contracts"
CACHE = Path.home() / ".cache" / "runai-cluster-upstream"


@dataclass(frozen=True)
class ChartSource:
    repo: str  # owner/name on GitHub
    path: str  # the chart's directory
    tag: str  # the release tag, from the chart version
    # Free-form values keys a CRD describes (the chart renders them into a custom object's spec).
    specs: dict[str, str] = field(default_factory=dict)
    # The file listing the operand images a release deploys ({repository, image, version} entries).
    images: str | None = None


CHARTS = {
    "flannel": ChartSource("flannel-io/flannel", "chart/kube-flannel", "{version}"),
    "tigera-operator": ChartSource(
        "projectcalico/calico",
        "charts/tigera-operator",
        "{version}",
        {"installation": "crds/operator.tigera.io_installations.yaml"},
    ),
    "metallb": ChartSource("metallb/metallb", "charts/metallb", "v{version}"),
    "ingress-nginx": ChartSource("kubernetes/ingress-nginx", "charts/ingress-nginx", "helm-chart-{version}"),
    "kubernetes-ingress": ChartSource("haproxytech/helm-charts", "kubernetes-ingress", "kubernetes-ingress-{version}"),
    "kube-prometheus-stack": ChartSource(
        "prometheus-community/helm-charts", "charts/kube-prometheus-stack", "kube-prometheus-stack-{version}"
    ),
    "gpu-operator": ChartSource("NVIDIA/gpu-operator", "deployments/gpu-operator", "{version}"),
    "network-operator": ChartSource(
        "Mellanox/network-operator", "deployment/network-operator", "v{version}", images="hack/release.yaml"
    ),
    "nfs-subdir-external-provisioner": ChartSource(
        "kubernetes-sigs/nfs-subdir-external-provisioner",
        "charts/nfs-subdir-external-provisioner",
        "nfs-subdir-external-provisioner-{version}",
    ),
    # Its chart versions carry the release tag's "v".
    "kai-scheduler": ChartSource("kai-scheduler/KAI-Scheduler", "deployments/kai-scheduler", "{version}"),
}

# Knative Serving's ConfigMaps we write keys of, and the file of each (its
# `_example` block documents every key the component reads).
KNATIVE_MAPS = {
    "config-network": "config/core/configmaps/network.yaml",
    "config-autoscaler": "config/core/configmaps/autoscaler.yaml",
    "config-features": "config/core/configmaps/features.yaml",
}
# Its keys are domain names, each with a label selector.
KNATIVE_OPEN_MAPS = ("config-domain",)
# The ingress controller's ConfigMap keys: the json tags of its Configuration
# struct and of the embedded defaults.
INGRESS_CONFIG_FILES = ("internal/ingress/controller/config/config.go", "internal/ingress/defaults/main.go")
_JSON_TAG = re.compile(r'json:"([a-z0-9][a-z0-9-]*)[,"]')


class Upstream:
    """Files of GitHub repositories at a tag."""

    def __init__(self, git_dirs: Path | None) -> None:
        self.git_dirs = git_dirs

    def git_dir(self, repo: str) -> Path:
        name = repo.replace("/", "+")
        if self.git_dirs is not None:
            return self.git_dirs / name
        directory = CACHE / f"{name}.git"
        if not directory.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            url = f"https://github.com/{repo}.git"
            subprocess.run(["git", "clone", "--bare", "--filter=blob:none", url, str(directory)], check=True)
        return directory

    def _git(self, repo: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(self.git_dir(repo)), *args], capture_output=True, text=True)

    def has_tag(self, repo: str, tag: str) -> bool:
        return self._git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}").returncode == 0

    def files(self, repo: str, tag: str, path: str) -> list[str]:
        listing = self._git(repo, "ls-tree", "-r", "--name-only", tag, "--", path)
        return listing.stdout.split() if listing.returncode == 0 else []

    def read(self, repo: str, tag: str, path: str) -> str | None:
        """A file's text, following symbolic links inside the repository."""
        entry = self._git(repo, "ls-tree", tag, "--", path).stdout.split()
        if not entry:
            return None
        text = self._git(repo, "show", f"{tag}:{path}").stdout
        if entry[0] == "120000":
            target = PurePosixPath(path).parent / text.strip()
            return self.read(repo, tag, _normalise(target))
        return text


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


# Key paths: "a.b" for a mapping key, "a[]" for the items of a list.
def value_paths(value: Any, prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(path, open) of every key in a values document; open marks an empty
    mapping or list, whose keys or items the chart leaves to the user."""
    if isinstance(value, dict):
        if not value and prefix:
            yield prefix, True
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path, False
            yield from value_paths(item, path)
    elif isinstance(value, list):
        if not value:
            yield f"{prefix}[]", True
        for item in value:
            if isinstance(item, dict):
                yield from value_paths(item, f"{prefix}[]")


def schema_paths(schema: Any, prefix: str, root: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """The same from a JSON schema (values.schema.json, a CRD's openAPIV3Schema)."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {})
        yield from schema_paths(target, prefix, root)
    properties = schema.get("properties") or {}
    for key, sub in properties.items():
        path = f"{prefix}.{key}" if prefix else key
        yield path, False
        yield from schema_paths(sub, path, root)
    extra = schema.get("additionalProperties")
    free = extra not in (None, False) or schema.get("x-kubernetes-preserve-unknown-fields")
    if prefix and (free or (schema.get("type") == "object" and not properties and extra is None)):
        yield prefix, True
    if isinstance(schema.get("items"), dict):
        yield from schema_paths(schema["items"], f"{prefix}[]", root)
    for combined in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(combined, []):
            yield from schema_paths(sub, prefix, root)


def set_paths(values: Any, prefix: str = "") -> Iterator[str]:
    """Every key path a values mapping we send sets."""
    if isinstance(values, dict):
        for key, item in values.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from set_paths(item, path)
    elif isinstance(values, list):
        for item in values:
            yield from set_paths(item, f"{prefix}[]")


def unknown_paths(values: dict[str, Any], contract: dict[str, Any], allowed: tuple[str, ...] = ()) -> list[str]:
    """The paths of `values` the chart has not, outside its open maps and
    the `allowed` ones."""
    known = set(contract["paths"])
    free = (*contract["open"], *allowed)
    return sorted(
        path
        for path in set_paths(values)
        if path not in known and not any(path.startswith((f"{root}.", f"{root}[]")) for root in free)
    )


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1's `=` (the "value" tag, found in CRD enums) read as text."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _crd_names(text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for document in yaml.load_all(text, Loader=_Loader):
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
            yield document["metadata"]["name"], document


def chart_contract(upstream: Upstream, name: str, version: str) -> dict[str, Any]:
    source = CHARTS[name]
    tag = source.tag.format(version=version)
    if not upstream.has_tag(source.repo, tag):
        raise LookupError(f"chart {name} {version}: no tag {tag} in github.com/{source.repo}")
    paths: dict[str, bool] = {}

    def add(found: Iterator[tuple[str, bool]]) -> None:
        for path, open_ in found:
            paths[path] = paths.get(path, False) or open_

    # Each CRD the chart installs, with the condition of the sub-chart that
    # brings it (Helm installs none of a disabled sub-chart's), and each
    # condition's default.
    crds: dict[str, str] = {}
    conditions: dict[str, Any] = {}

    def read_chart(directory: str, prefix: str, condition: str) -> str:
        values = yaml.safe_load(upstream.read(source.repo, tag, f"{directory}/values.yaml") or "") or {}
        add(value_paths(values, prefix))
        schema = upstream.read(source.repo, tag, f"{directory}/values.schema.json")
        if schema:
            document = json.loads(schema)
            add(schema_paths(document, prefix, document))
        for path in upstream.files(source.repo, tag, f"{directory}/crds"):
            if path.endswith((".yaml", ".yml")):
                crds.update((crd, condition) for crd, _ in _crd_names(upstream.read(source.repo, tag, path) or ""))
        chart = yaml.safe_load(upstream.read(source.repo, tag, f"{directory}/Chart.yaml") or "{}")
        for dependency in chart.get("dependencies") or []:
            key = dependency.get("alias") or dependency["name"]
            below = f"{prefix}.{key}" if prefix else key
            switch = dependency.get("condition", "").split(",")[0]
            if switch:
                conditions[f"{prefix}.{switch}" if prefix else switch] = _lookup(values, switch)
            if upstream.read(source.repo, tag, f"{directory}/charts/{dependency['name']}/values.yaml") is not None:
                switched = f"{prefix}.{switch}" if prefix and switch else switch
                read_chart(f"{directory}/charts/{dependency['name']}", below, switched or condition)
            else:  # fetched at packaging time: its keys are not in this repository
                paths[below] = True
        return str(chart.get("appVersion", ""))

    app_version = read_chart(source.path, "", "")
    for key, crd_file in source.specs.items():
        text = upstream.read(source.repo, tag, f"{source.path}/{crd_file}") or ""
        for _, crd in _crd_names(text):
            spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            add(schema_paths(spec, key, spec))
    return {
        "chart": name,
        "version": version,
        "source": f"https://github.com/{source.repo}/tree/{tag}/{source.path}",
        "appVersion": app_version,
        "crds": dict(sorted(crds.items())),
        "conditions": conditions,
        "images": release_images(upstream, source, tag),
        "paths": sorted(paths),
        "open": sorted(path for path, open_ in paths.items() if open_),
    }


def _lookup(values: Any, path: str) -> Any:
    for part in path.split("."):
        values = values.get(part) if isinstance(values, dict) else None
    return values


def installed_crds(contract: dict[str, Any], values: dict[str, Any]) -> set[str]:
    """The CRDs a release of the chart installs with `values` set."""

    def on(condition: str) -> bool:
        chosen = _lookup(values, condition)
        return bool(contract["conditions"].get(condition) if chosen is None else chosen)

    return {crd for crd, condition in contract["crds"].items() if not condition or on(condition)}


def knative_contract(upstream: Upstream, version: str) -> dict[str, Any]:
    tag = f"knative-v{version}"
    maps: dict[str, list[str]] = {}
    for name, path in KNATIVE_MAPS.items():
        text = upstream.read("knative/serving", tag, path)
        if text is None:
            raise LookupError(f"knative {version}: no {path} at {tag} in github.com/knative/serving")
        example = yaml.safe_load(text)["data"]["_example"]
        maps[name] = sorted(yaml.safe_load(example) or {})
    return {
        "component": "knative-serving",
        "version": version,
        "source": f"https://github.com/knative/serving/tree/{tag}/config/core/configmaps",
        "configMaps": maps,
        "open": list(KNATIVE_OPEN_MAPS),
    }


def ingress_controller_contract(upstream: Upstream, version: str) -> dict[str, Any]:
    tag = f"controller-v{version}"
    keys: set[str] = set()
    for path in INGRESS_CONFIG_FILES:
        text = upstream.read("kubernetes/ingress-nginx", tag, path)
        if text is None:
            raise LookupError(f"ingress-nginx controller {version}: no {path} at {tag}")
        keys.update(_JSON_TAG.findall(text))
    return {
        "component": "ingress-nginx-controller",
        "version": version,
        "source": f"https://github.com/kubernetes/ingress-nginx/tree/{tag}/internal/ingress",
        "configMaps": {"ingress-nginx-controller": sorted(keys)},
        "open": [],
    }


# The HAProxy controller documents every key it reads, and where (its
# ConfigMap, an Ingress's annotations, its custom resources).
HAPROXY_DOC = "documentation/doc.yaml"


def haproxy_controller_contract(upstream: Upstream, version: str) -> dict[str, Any]:
    tag = f"v{version}"
    text = upstream.read("haproxytech/kubernetes-ingress", tag, HAPROXY_DOC)
    if text is None:
        raise LookupError(f"HAProxy ingress controller {version}: no {HAPROXY_DOC} at {tag}")
    entries = yaml.safe_load(text).get("annotations") or []
    keys = sorted(entry["title"] for entry in entries if "configmap" in (entry.get("applies_to") or []))
    return {
        "component": "haproxy-ingress-controller",
        "version": version,
        "source": f"https://github.com/haproxytech/kubernetes-ingress/blob/{tag}/{HAPROXY_DOC}",
        "configMaps": {"haproxy-kubernetes-ingress": keys},
        "open": [],
    }


def contract_file(kind: str, name: str, version: str) -> Path:
    return CONTRACTS / kind / f"{name}-{version}.json"


def load(kind: str, name: str, version: str) -> dict[str, Any]:
    path = contract_file(kind, name, version)
    if not path.exists():
        raise FileNotFoundError(f"no contract for {kind} {name} {version}: run python -m tools.contracts write")
    return json.loads(path.read_text())


def _pinned() -> dict[str, Any]:
    """The defaults the stack model pins (charts, manifests, images)."""
    from stacks.addons import INGRESS_CHARTS, AddonsConfig, NetworkOperatorConfig, TrainingConfig
    from stacks.cluster import ApiEndpoint
    from stacks.scheduling import KaiConfig
    from stacks.storage import LocalPathProvisioner, NfsProvisioner

    addons = AddonsConfig()
    charts = [
        addons.cni.flannel,
        addons.cni.calico,
        addons.metallb.chart,
        *INGRESS_CHARTS.values(),
        addons.prometheus.chart,
        addons.gpu_operator.chart,
        addons.network_operator.chart,
        NfsProvisioner.model_fields["chart"].default,
        KaiConfig().chart,
    ]
    knative = addons.knative
    training = TrainingConfig()
    manifests = [
        knative.source(knative.serving_source, "serving-core.yaml"),
        knative.source(knative.kourier_source, "kourier.yaml"),
        training.kustomization,
        training.mpi_operator_manifest,
        LocalPathProvisioner().manifest,
    ]
    network = NetworkOperatorConfig()
    vip = ApiEndpoint.model_fields["kube_vip_image"].default
    return {
        "charts": charts,
        "manifests": manifests,
        "rdma": (network.chart.version, network.rdma_plugin_image),
        "tagged_images": [("kube-vip/kube-vip", vip)],
        "knative": knative.version,
    }


_GITHUB = (
    # raw file, release asset, kustomize directory of a git repository
    re.compile(r"^https://raw\.githubusercontent\.com/(?P<repo>[^/]+/[^/]+)/(?P<tag>[^/]+)/(?P<path>.+)$"),
    re.compile(r"^https://github\.com/(?P<repo>[^/]+/[^/]+)/releases/download/(?P<tag>[^/]+)/"),
    re.compile(r"^https://github\.com/(?P<repo>[^/]+/[^/]+?)\.git//(?P<path>[^?]+)\?ref=(?P<tag>.+)$"),
)


def locate(url: str) -> tuple[str, str, str | None] | None:
    """(repository, tag, path or None) of a GitHub URL, None for any other."""
    for pattern in _GITHUB:
        match = pattern.match(url)
        if match:
            return match["repo"], match["tag"], match.groupdict().get("path")
    return None


def check(upstream: Upstream) -> list[str]:
    """What the pinned defaults name that upstream does not have."""
    pinned = _pinned()
    problems = []
    for chart in pinned["charts"]:
        source = CHARTS[chart.name]
        tag = source.tag.format(version=chart.version)
        if not upstream.has_tag(source.repo, tag):
            problems.append(f"chart {chart.name} {chart.version}: no tag {tag} in github.com/{source.repo}")
        elif upstream.read(source.repo, tag, f"{source.path}/Chart.yaml") is None:
            problems.append(f"chart {chart.name} {chart.version}: no {source.path} at {tag}")
    for url in pinned["manifests"]:
        where = locate(url)
        if where is None:
            problems.append(f"manifest {url}: not a GitHub release, raw file or repository, so not checked")
            continue
        repo, tag, path = where
        if not upstream.has_tag(repo, tag):
            problems.append(f"manifest: no tag {tag} in github.com/{repo}")
        elif path and not upstream.files(repo, tag, path):
            problems.append(f"manifest: no {path} at {tag} in github.com/{repo}")
    version, image = pinned["rdma"]
    source = CHARTS["network-operator"]
    listed = release_images(upstream, source, source.tag.format(version=version))
    if image not in listed:
        problems.append(f"image {image}: not among the images network-operator {version} lists ({', '.join(listed)})")
    for repo, reference in pinned["tagged_images"]:
        tag = reference.rsplit(":", 1)[1]
        if not upstream.has_tag(repo, tag):
            problems.append(f"image {reference}: no release tag {tag} in github.com/{repo}")
    return problems


def release_images(upstream: Upstream, source: ChartSource, tag: str) -> list[str]:
    """The operand images a release names in its release file."""
    if source.images is None:
        return []
    listed = yaml.safe_load(upstream.read(source.repo, tag, source.images) or "{}") or {}
    return sorted(
        f"{item['repository']}/{item['image']}:{item['version']}"
        for item in listed.values()
        if isinstance(item, dict) and {"repository", "image", "version"} <= item.keys()
    )


def write(upstream: Upstream) -> list[Path]:
    pinned = _pinned()
    written = []
    for chart in pinned["charts"]:
        contract = chart_contract(upstream, chart.name, chart.version)
        written.append(_store("charts", chart.name, chart.version, contract))
        if chart.name == "ingress-nginx":
            app = contract["appVersion"]
            controller = ingress_controller_contract(upstream, app)
            written.append(_store("configmaps", "ingress-nginx-controller", app, controller))
        if chart.name == "kubernetes-ingress":
            app = contract["appVersion"]
            controller = haproxy_controller_contract(upstream, app)
            written.append(_store("configmaps", "haproxy-ingress-controller", app, controller))
    knative = pinned["knative"]
    written.append(_store("configmaps", "knative-serving", knative, knative_contract(upstream, knative)))
    return written


def _store(kind: str, name: str, version: str, contract: dict[str, Any]) -> Path:
    path = contract_file(kind, name, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(contract, indent=1) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("--git-dirs", type=Path, help="a directory of git directories named <owner>+<name>")
    args = parser.parse_args()
    upstream = Upstream(args.git_dirs)
    if args.action == "write":
        for path in write(upstream):
            print(path.relative_to(ROOT))
        return 0
    problems = check(upstream)
    for problem in problems:
        print(f"contracts: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

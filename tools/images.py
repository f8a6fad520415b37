"""Every container image a stack deploys, so an air-gapped site can mirror
them: `python -m tools.images STACK` (make images STACK=prod).

The program is evaluated without an engine or machines (tools.mocked_program)
to learn every Helm release, manifest and kustomization with the values the
stack gives them; each is then rendered (helm template, kustomize build) or
read, and every image named in it is listed, along with the images the
program sets itself (backup CronJob, operator policies, kube-vip, the pause
image). A source that cannot be read is named on stderr and the exit status
is 1: a partial list is never presented as the whole."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from stacks.cluster import Bootstrap, VipProvider
from stacks.load import SECRET_KEYS, parse_stack
from stacks.model import StackConfig
from stacks.runai import registry_secret
from tools.mocked_program import Recorded, Registration, run_program, stack_settings

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = "placeholder-for-image-listing"


def images_in(value: Any) -> Iterator[str]:
    """Images named in a document: `image` strings, completed by a sibling
    `repository` and `version`/`tag` where operators split them."""
    if isinstance(value, Mapping):
        image = value.get("image")
        if isinstance(image, str) and image:
            repository, tag = value.get("repository"), value.get("version", value.get("tag"))
            if isinstance(repository, str) and repository and not image.startswith(repository):
                image = f"{repository.rstrip('/')}/{image}"
            if isinstance(tag, str) and tag and ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
                image = f"{image}:{tag}"
            yield image
        for key, item in value.items():
            if key != "image":
                yield from images_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from images_in(item)


def documents(text: str) -> Iterator[Any]:
    yield from (doc for doc in yaml.safe_load_all(text) if doc)


def read(source: str) -> str:
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=60) as answer:
            return answer.read().decode()
    return Path(source).read_text()


def failure(stderr: str, what: str) -> OSError:
    """The tool's own explanation: its first error line, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return OSError((errors or lines or [f"{what} failed"])[0])


def helm_template(tools: Path, release: dict[str, Any], kubernetes_version: str) -> str:
    command = [str(tools / "helm"), "template", release["name"], release["chart"]]
    command += ["--namespace", release.get("namespace") or "default", "--kube-version", kubernetes_version]
    if release.get("version"):
        command += ["--version", release["version"]]
    repository = (release.get("repositoryOpts") or {}).get("repo")
    if repository:
        command += ["--repo", repository]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values:
        json.dump(release.get("values") or {}, values)
        values.flush()
        result = subprocess.run([*command, "--values", values.name], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise failure(result.stderr, "helm template")
    return result.stdout


def kustomize_build(tools: Path, directory: str) -> str:
    result = subprocess.run([str(tools / "kustomize"), "build", directory], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise failure(result.stderr, "kustomize build")
    return result.stdout


def evaluate(settings: dict[str, Any], config: StackConfig, stack: str) -> Recorded:
    """The program's registrations, with placeholders for the secrets the
    stack needs (no secret value is read or printed)."""
    secrets = {key: PLACEHOLDER for key in SECRET_KEYS}
    secrets |= {registry_secret(registry.name): PLACEHOLDER for registry in config.runai.registries}
    if config.cluster.bootstrap is Bootstrap.EXISTING:
        secrets["kubeconfig"] = yaml.safe_dump({"apiVersion": "v1", "kind": "Config"})
    recorded, _ = run_program(settings, secrets, stack=stack)
    return recorded


def rendered(registration: Registration, tools: Path, config: StackConfig) -> str | None:
    """The manifests a chart, manifest file or kustomization deploys; None
    for any other resource (its own inputs name its images)."""
    inputs = registration.inputs
    if registration.type == "kubernetes:helm.sh/v3:Release":
        return helm_template(tools, inputs, config.cluster.kubernetes_version)
    if registration.type == "kubernetes:yaml/v2:ConfigFile":
        return read(inputs["file"])
    if registration.type == "kubernetes:kustomize/v2:Directory":
        return kustomize_build(tools, inputs["directory"])
    return None


def list_images(settings: dict[str, Any], stack: str, tools: Path) -> tuple[set[str], list[str]]:
    """(images, sources that could not be read)."""
    config = parse_stack(settings)
    images = {config.packages.containerd.sandbox_image}
    endpoint = config.cluster.api_endpoint
    if endpoint is not None and endpoint.provider is VipProvider.KUBE_VIP:
        images.add(endpoint.kube_vip_image)
    unreadable: list[str] = []
    for registration in evaluate(settings, config, stack).resources.values():
        try:
            text = rendered(registration, tools, config)
            sources = [registration.inputs] if text is None else list(documents(text))
        except (OSError, subprocess.TimeoutExpired, yaml.YAMLError) as error:
            unreadable.append(f"{registration.name}: {error}")
            continue
        images.update(image for document in sources for image in images_in(document))
    return images, unreadable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="dev, prod, ... (reads Pulumi.<stack>.yaml)")
    args = parser.parse_args()
    tools = Path(
        subprocess.run([str(ROOT / "tools/render_tools.sh")], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    settings = stack_settings(args.stack)
    images, unreadable = list_images(settings, args.stack, tools)
    print("\n".join(sorted(images)))
    config = parse_stack(settings)
    if config.cluster.bootstrap is Bootstrap.KUBEADM:
        print(
            f"# plus the control plane's: kubeadm config images list --kubernetes-version "
            f"v{config.cluster.kubernetes_version} --image-repository {config.packages.image_repository}",
            file=sys.stderr,
        )
    for line in unreadable:
        print(f"images: could not read {line}", file=sys.stderr)
    return 1 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())

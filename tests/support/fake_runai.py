"""A stateful local Run:ai control-plane API for tests, following the REST
contract (2.19 to 2.24; `version` picks where they differ) as far as this
project uses it: tokens, node pools, departments, projects, roles, access
rules, NFS data sources, compute resources, registry credentials, workload
policies, local users, applications and (2.24+) service accounts, identity
providers (2.21+), and the first administrator's sign-in (`test@run.ai` with
the chart's initial password, System administrator on the tenant) and
password change.

Where 2.24 differs: service accounts (/api/v1/service-accounts, their secret
`clientSecret`, access rules naming them `service-account`) beside the
deprecated applications, and `expiresIn` in token answers.

What it holds to, as the real one does: JWT access tokens with `exp` (a
request with an expired one gets 401), token requests tolerant of key case
(`AppId`, `appID`, `clientId` ...), numeric string ids, list envelopes
(`{"departments": [...], "next": ...}`, `{"nodepools": [...]}`), 201 on
create, 404 for unknown ids, 409 for a duplicate name, 400 for a malformed
body (missing required fields, a quota item without its node pool), and
`name`/`parentId` immutable on PUT. Faults can be queued per path prefix
(429, 503, ...) to exercise retries. Never for production use."""

from __future__ import annotations

import base64
import itertools
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

from tools.lab.site import make_ca

CLUSTER_ID = "3f6a9a39-0c2f-4bd1-9b3d-5c1e7a2b9d10"
TENANT_ID = 1001
CLUSTERS = "/api/v1/clusters"
USERS = "/api/v1/users"
APPS = "/api/v1/apps"
SERVICE_ACCOUNTS = "/api/v1/service-accounts"
# Automation accounts: where each lives, its store and the name of its secret.
ACCOUNTS = {APPS: ("apps", "secret"), SERVICE_ACCOUNTS: ("serviceaccounts", "clientSecret")}
IDPS = "/api/v1/idps"
# What Run:ai reads for each user attribute unless told otherwise.
DEFAULT_MAPPERS = {
    "gid": "GID",
    "groups": "GROUPS",
    "supplementaryGroups": "SUPPLEMENTARYGROUPS",
    "uid": "UID",
    "email": "email",
}
OIDC_REQUIRED = ("clientId", "clientSecret", "discoverDocumentUrl")
SCOPE = re.compile(r"^[a-zA-Z0-9-._:]+$")
MY_PASSWORD = "/api/v1/me/password"
APP_NAME = re.compile(r"^[a-z][-_a-z0-9]*[a-z0-9]$")
COLLECTIONS = {
    "/api/v1/node-pools": "nodepools",
    "/api/v1/org-unit/departments": "departments",
    "/api/v1/org-unit/projects": "projects",
    "/api/v1/authorization/access-rules": "accessRules",
}
REQUIRED = {
    "nodepools": ("name", "labelKey", "labelValue", "clusterId"),
    "departments": ("name", "clusterId", "resources"),
    "projects": ("name", "clusterId", "resources", "parentId"),
    "accessRules": ("subjectId", "subjectType", "roleId", "scopeId", "scopeType"),
}
# Asset kinds: their path and the spec fields a create must carry.
ASSETS = {
    "nfs": ("/api/v1/asset/datasource/nfs", ("server", "path", "mountPath")),
    "compute": ("/api/v1/asset/compute", ("gpuDevicesRequest",)),
    "dockerregistry": ("/api/v1/asset/credentials/docker-registry", ("url", "user", "password")),
}
POLICIES = "/api/v2/policy"
WORKLOAD_SETTINGS = "/api/v1/workloads/settings"
SETTING_KEYS = (
    "enablePolicies",
    "workloadSubmissionV2Enabled",
    "enableTemplatesV2",
    "enableHybridSubmission",
    "gpuOverProvisioning",
    "applicationSubmission",
)
WORKLOAD_TYPES = {"trainings", "workspaces", "distributed", "inferences"}
# Ids differ between installs; these are this fake's.
ROLES = {
    "System administrator": 1,
    "Department administrator": 2,
    "Editor": 3,
    "Research manager": 4,
    "Viewer": 5,
    "L1 researcher": 6,
    "L2 researcher": 7,
    "ML engineer": 8,
}


ADMIN_RULE = {
    "subjectType": "user",
    "roleId": ROLES["System administrator"],
    "roleName": "System administrator",
    "scopeType": "tenant",
    "scopeId": str(TENANT_ID),
    "scopeName": "tenant",
}


def _bad_idp(body: Any) -> str | None:
    """IdpCreationRequest: the type's data, its required fields, patterns."""
    if not isinstance(body, dict) or body.get("type") not in {"oidc", "saml", "openshift-v4"}:
        return "type must be oidc, saml or openshift-v4"
    if body["type"] == "oidc":
        oidc = body.get("oidcData")
        if not isinstance(oidc, dict) or not all(oidc.get(key) for key in OIDC_REQUIRED):
            return "oidcData needs clientId, clientSecret and discoverDocumentUrl"
        if not all(isinstance(scope, str) and SCOPE.match(scope) for scope in oidc.get("scopes") or []):
            return "oidcData.scopes: each scope one word"
    if body["type"] == "saml":
        saml = body.get("samlData")
        if not isinstance(saml, dict) or saml.get("metadataXmlType") != "url" or not saml.get("metadataXmlUrl"):
            return "samlData needs metadataXmlType url and metadataXmlUrl (this fake does not take files)"
    mappers = body.get("mappers") or {}
    if not isinstance(mappers, dict) or not set(mappers) <= set(DEFAULT_MAPPERS):
        return f"mappers: only {', '.join(DEFAULT_MAPPERS)}"
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class FakeRunai:
    # The control plane's minor: the contract it follows where they differ.
    version: str = "2.24"
    client_id: str = "automation"
    client_secret: str = "app-secret-value-7f3e"
    token_seconds: int = 3600
    # The first administrator, as a fresh control plane has them.
    admin_email: str = "test@run.ai"
    admin_password: str = "Abcd!234"
    store: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: (
            {c: {} for c in [*REQUIRED, *ASSETS, "policies", "users", "apps", "serviceaccounts", "idps"]}
            | {"clusters": {CLUSTER_ID: _cluster(CLUSTER_ID, "registered-before", "2.20")}}
        )
    )
    faults: dict[str, list[int]] = field(default_factory=dict)
    # Tenant-wide workloads settings, all off on a fresh control plane.
    workload_settings: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(SETTING_KEYS, False))
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    tokens_issued: int = 0
    # Tokens numbered below this are refused (a restarted identity service).
    valid_from: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The administrator's own rule: what the UI shows under Access rules.
        self.store["accessRules"]["0"] = ADMIN_RULE | {"id": 0, "subjectId": self.admin_email}

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    def token_answer(self, subject: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = {"accessToken": self.token(self.token_seconds, subject)}
        if self.minor >= 24:
            answer["expiresIn"] = self.token_seconds
        return answer

    def token(self, lifetime: int, subject: str | None = None) -> str:
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        self.tokens_issued += 1
        claims = {"sub": subject or self.client_id, "exp": int(time.time()) + lifetime, "n": self.tokens_issued}
        payload = _b64(json.dumps(claims).encode())
        return f"{header}.{payload}.{_b64(b'unsigned')}"

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (before its exp)."""
        self.valid_from = self.tokens_issued + 1

    def fail_next(self, prefix: str, *statuses: int) -> None:
        """The next requests under `prefix` answer these statuses, in order."""
        self.faults.setdefault(prefix, []).extend(statuses)

    def put_behind_our_back(self, collection: str, name: str, change: dict[str, Any]) -> None:
        """An edit made in the UI: the stack does not know."""
        item = next(i for i in self.store[collection].values() if (i.get("meta") or i)["name"] == name)
        for key, value in change.items():
            if isinstance(value, dict) and isinstance(item.get(key), dict):
                item[key].update(value)
            else:
                item[key] = value


def _cluster(uuid: str, name: str, version: str | None, domain: str | None = None) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "tenantId": TENANT_ID,
        "name": name,
        "version": version,
        "domain": domain,
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": {"state": "WaitingToConnect"},
        # What cluster-install-info hands out once per cluster.
        "_clientSecret": f"cluster-secret-{uuid[:8]}",
    }


def _public(cluster: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in cluster.items() if not key.startswith("_")}


def _signed_in(header: str | None, valid_from: int) -> str | None:
    """Who a bearer token was issued to; None when it is missing, malformed,
    expired or revoked."""
    if not header or not header.lower().startswith("bearer "):
        return None
    try:
        payload = header.split()[1].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    if int(claims.get("exp", 0)) <= time.time() or int(claims.get("n", 0)) < valid_from:
        return None
    return str(claims.get("sub"))


def _bad_resources(resources: Any) -> str | None:
    if not isinstance(resources, list):
        return "resources must be a list"
    for item in resources:
        if not isinstance(item, dict) or not (item.get("nodePool") or {}).get("id"):
            return "resources[].nodePool.id is required"
        gpu = item.get("gpu")
        if not isinstance(gpu, dict) or "deserved" not in gpu:
            return "resources[].gpu.deserved is required"
    return None


def _without_password(asset: dict[str, Any]) -> dict[str, Any]:
    """Credentials are never echoed back."""
    spec = {key: value for key, value in asset["spec"].items() if key != "password"}
    return {**asset, "spec": spec}


def _bad_compute(spec: dict[str, Any]) -> str | None:
    devices = spec["gpuDevicesRequest"]
    if not isinstance(devices, int) or devices < 0:
        return "gpuDevicesRequest must be a whole number of devices"
    if devices > 1 and spec.get("gpuRequestType", "portion") != "portion":
        return "with more than one device only the portion request type is allowed"
    if spec.get("gpuRequestType") == "portion" and not 0 < float(spec.get("gpuPortionRequest", 0)) <= 1:
        return "gpuPortionRequest must be in (0, 1] for the portion type"
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *_: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: Any = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        # Recorded before answering: the client may look as soon as it has the answer.
        self.server.fake.requests.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"code": status, "message": message})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        with fake._lock:
            for prefix, queued in fake.faults.items():
                if path.startswith(prefix) and queued:
                    status = queued.pop(0)
                    self._error(status, HTTPStatus(status).phrase)
                    return
            try:
                body = self._body()
            except json.JSONDecodeError:
                self._error(400, "malformed JSON body")
                return
            if path == "/api/v1/token" and self.command == "POST":
                self._token(body or {})
                return
            subject = _signed_in(self.headers.get("Authorization"), fake.valid_from)
            if subject is None:
                self._error(401, "missing, malformed or expired token")
                return
            if path == MY_PASSWORD and self.command == "POST":
                self._change_password(subject, body)
                return
            self._route(path, body)

    def _token(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        keys = {key.lower(): value for key, value in body.items()}
        grant = keys.get("granttype")
        if grant == "password":
            if not keys.get("username") or not keys.get("password"):
                self._error(400, "username and password are required")
            elif keys["username"] != fake.admin_email or keys["password"] != fake.admin_password:
                self._error(401, "invalid user credentials")
            else:
                self._send(200, fake.token_answer(keys["username"]))
            return
        if grant not in {"app_token", "client_credentials"}:
            self._error(400, "grantType must be app_token, client_credentials or password")
            return
        client = keys.get("appid") or keys.get("clientid")
        secret = keys.get("appsecret") or keys.get("clientsecret")
        accounts = {
            (account["name"], account[field])
            for store, field in ACCOUNTS.values()
            for account in fake.store[store].values()
        }
        if (client, secret) != (fake.client_id, fake.client_secret) and (client, secret) not in accounts:
            self._error(401, "invalid client credentials")
            return
        self._send(200, fake.token_answer(client))

    def _change_password(self, subject: str, body: Any) -> None:
        """A person changes their own password; an application has none."""
        fake = self.server.fake
        if not isinstance(body, dict) or not body.get("currentPassword") or not body.get("newPassword"):
            self._error(400, "currentPassword and newPassword are required")
        elif subject != fake.admin_email:
            self._error(403, "only a user has a password")
        elif body["currentPassword"] != fake.admin_password:
            self._error(400, "the current password is wrong")
        else:
            fake.admin_password = body["newPassword"]
            self._send(200, {})

    def _idps(self, alias: str, body: Any) -> None:
        """Identity providers: one per type, named by an alias (the type);
        create (201 `{alias}`, 409 when the type has one), list, get (the
        client secret masked, the discovery and metadata URLs never
        returned, the redirect URI and SAML entity ID added), update by PUT,
        delete (200)."""
        idps = self.server.fake.store["idps"]
        if self.command in ("POST", "PUT"):
            problem = _bad_idp(body)
            if problem:
                self._error(400, problem)
                return
        if not alias:
            if self.command == "GET":
                self._send(200, [self._shown(a) for a in idps])
            elif self.command != "POST":
                self._error(405, "method not allowed")
            elif body["type"] in idps:
                self._error(409, f"an identity provider of type {body['type']} already exists")
            else:
                idps[body["type"]] = body
                self._send(201, {"alias": body["type"]})
            return
        if alias not in idps:
            self._error(404, f"identity provider {alias} not found")
        elif self.command == "GET":
            self._send(200, self._shown(alias))
        elif self.command == "PUT" and body["type"] != alias:
            self._error(400, "the type of an identity provider cannot change")
        elif self.command == "PUT":
            idps[alias] = body
            self._send(200, self._shown(alias))
        elif self.command == "DELETE":
            del idps[alias]
            self._send(200, {})
        else:
            self._error(405, "method not allowed")

    def _shown(self, alias: str) -> dict[str, Any]:
        stored = self.server.fake.store["idps"][alias]
        redirect = f"http://{self.headers['Host']}/auth/realms/runai/broker/{alias}/endpoint"
        shown: dict[str, Any] = {
            "alias": alias,
            "type": stored["type"],
            "redirectUri": redirect,
            "mappers": DEFAULT_MAPPERS | (stored.get("mappers") or {}),
        }
        if stored["type"] == "oidc":
            oidc = {k: v for k, v in stored["oidcData"].items() if k != "discoverDocumentUrl"}
            shown["oidcData"] = {**oidc, "clientSecret": "*******"}
        else:
            host = self.headers["Host"]
            shown["samlData"] = {"entityId": f"{host}/runai", "serviceProviderMetadataUrl": f"{redirect}/descriptor"}
        return shown

    def _accounts(self, prefix: str, rest: list[str], body: Any) -> None:
        """Applications or service accounts: create by name (201 with its
        secret, shown only then; 409 for a taken name; 400 outside Run:ai's
        name pattern), list (a bare array), get, delete (204), and a new
        secret (the old one stops working)."""
        store, secret = ACCOUNTS[prefix]
        apps = self.server.fake.store[store]
        public = ("id", "name", "clientId", "enabled", "createdAt")
        if rest == [""]:
            if self.command == "GET":
                self._send(200, [{k: a[k] for k in public} for a in apps.values()])
            elif self.command != "POST":
                self._error(405, "method not allowed")
            elif not isinstance(body, dict) or not APP_NAME.match(str(body.get("name", ""))):
                self._error(400, "name must match ^[a-z][-_a-z0-9]*[a-z0-9]$")
            elif any(a["name"] == body["name"] for a in apps.values()):
                self._error(409, "Resource with this name already exists")
            else:
                app = {
                    "id": str(uuid4()),
                    "name": body["name"],
                    "clientId": body["name"],
                    "enabled": True,
                    "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    secret: uuid4().hex,
                }
                apps[app["id"]] = app
                self._send(201, {k: app[k] for k in ("id", "name", "clientId", secret)})
            return
        app = apps.get(rest[0])
        if app is None:
            self._error(404, f"{store} {rest[0]} not found")
        elif rest[1:] == ["secret"] and self.command == "POST":
            app[secret] = uuid4().hex
            self._send(200, {secret: app[secret]})
        elif rest[1:]:
            self._error(404, "no such route")
        elif self.command == "GET":
            self._send(200, {k: app[k] for k in public})
        elif self.command == "DELETE":
            del apps[rest[0]]
            self._send(204)
        else:
            self._error(405, "method not allowed")

    def _route(self, path: str, body: Any) -> None:
        if path.startswith(WORKLOAD_SETTINGS + "/"):
            self._workload_setting(path[len(WORKLOAD_SETTINGS) + 1 :], body)
            return
        if path == USERS or path.startswith(USERS + "/"):
            self._users(path[len(USERS) :].strip("/"), body)
            return
        for prefix in ACCOUNTS:
            if (path == prefix or path.startswith(prefix + "/")) and not (
                prefix == SERVICE_ACCOUNTS and self.server.fake.minor < 24
            ):
                self._accounts(prefix, path[len(prefix) :].strip("/").split("/"), body)
                return
        if path == IDPS or path.startswith(IDPS + "/"):
            self._idps(path[len(IDPS) :].strip("/"), body)
            return
        if path == CLUSTERS or path.startswith(CLUSTERS + "/"):
            self._clusters(path[len(CLUSTERS) :].strip("/").split("/"), body)
            return
        if path.startswith(POLICIES + "/"):
            self._policy(path[len(POLICIES) + 1 :], body)
            return
        for kind, (base, required) in ASSETS.items():
            if path == base or path.startswith(base + "/"):
                self._asset(kind, required, path[len(base) :].strip("/"), body)
                return
        if path == "/api/v1/authorization/roles" and self.command == "GET":
            self._send(200, [{"id": i, "name": n, "description": n, "permissions": []} for n, i in ROLES.items()])
            return
        for base, collection in COLLECTIONS.items():
            if path == base:
                if self.command == "GET":
                    items = sorted(self.server.fake.store[collection].values(), key=lambda i: int(i["id"]))
                    envelope: dict[str, Any] = {collection: items}
                    if collection == "accessRules":
                        envelope |= {"totalRecords": len(items), "displayRecords": len(items)}
                    elif collection != "nodepools":
                        envelope["next"] = None
                    self._send(200, envelope)
                elif self.command == "POST":
                    self._create(collection, body)
                else:
                    self._error(405, "method not allowed")
                return
            if path.startswith(base + "/"):
                rest = path[len(base) + 1 :].split("/")
                self._item(collection, rest[0], rest[1:], body)
                return
        self._error(404, f"no route {path}")

    def _workload_setting(self, key: str, body: Any) -> None:
        """GET answers `{value: {enabled}, displayName, ...}`; PUT takes
        `{enabled: bool}`; a key outside the enum is a 400."""
        settings = self.server.fake.workload_settings
        if key not in settings:
            self._error(400, f"key must be one of {', '.join(SETTING_KEYS)}")
        elif self.command == "GET":
            self._send(200, {"value": {"enabled": settings[key]}, "displayName": key, "stage": "GA"})
        elif self.command == "PUT":
            if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
                self._error(400, "enabled must be a boolean")
                return
            settings[key] = body["enabled"]
            self._send(200, {"enabled": settings[key]})
        else:
            self._error(405, "method not allowed")

    def _users(self, identifier: str, body: Any) -> None:
        """Local users: create by email (201 with a temporary password, shown
        only then; 409 for a taken email), list (a bare array), get, delete
        (204); there is no update."""
        users = self.server.fake.store["users"]
        if not identifier:
            if self.command == "GET":
                self._send(200, [{k: v for k, v in u.items() if k != "tempPassword"} for u in users.values()])
            elif self.command == "POST":
                email = body.get("email") if isinstance(body, dict) else None
                if not isinstance(email, str) or "@" not in email:
                    self._error(400, "email is required and must be an email address")
                elif any(u["username"] == email for u in users.values()):
                    self._error(409, f"user {email} already exists")
                else:
                    user = {"id": str(uuid4()), "username": email, "isLocal": True, "tempPassword": uuid4().hex}
                    users[user["id"]] = user
                    self._send(201, {key: user[key] for key in ("id", "username", "tempPassword")})
            else:
                self._error(405, "method not allowed")
            return
        if identifier not in users:
            self._error(404, f"user {identifier} not found")
        elif self.command == "GET":
            self._send(200, {k: v for k, v in users[identifier].items() if k != "tempPassword"})
        elif self.command == "DELETE":
            del users[identifier]
            self._send(204)
        else:
            self._error(405, "users have no update")

    def _clusters(self, parts: list[str], body: Any) -> None:
        """Registration: create (201, a UUID), list (a bare array), get, rename
        (PUT, 204), delete (202), and the install info with the client secret."""
        clusters = self.server.fake.store["clusters"]
        if parts == [""]:
            if self.command == "GET":
                self._send(200, [_public(c) for c in clusters.values()])
            elif self.command == "POST":
                if not isinstance(body, dict) or not body.get("name"):
                    self._error(400, "name is required")
                    return
                uuid = str(uuid4())
                clusters[uuid] = _cluster(uuid, body["name"], body.get("version"), body.get("domain"))
                self._send(201, _public(clusters[uuid]))
            else:
                self._error(405, "method not allowed")
            return
        uuid, tail = parts[0], parts[1:]
        if uuid not in clusters:
            self._error(404, f"cluster {uuid} not found")
            return
        if tail == ["cluster-install-info"] and self.command == "GET":
            version = parse_qs(urlsplit(self.path).query).get("version")
            if not version:
                self._error(400, "version is required")
                return
            self._send(
                200,
                {
                    "installationStr": f"helm upgrade -i runai-cluster runai/runai-cluster --version {version[0]}",
                    "repositoryName": "runai",
                    "chartRepoURL": "https://runai.jfrog.io/artifactory/api/helm/run-ai-charts",
                    "clientSecret": clusters[uuid]["_clientSecret"],
                },
            )
        elif tail:
            self._error(404, "no such route")
        elif self.command == "GET":
            self._send(200, _public(clusters[uuid]))
        elif self.command == "PUT":
            if not isinstance(body, dict) or set(body) != {"name"}:
                self._error(400, "only name can be updated")
                return
            clusters[uuid]["name"] = body["name"]
            self._send(204)
        elif self.command == "DELETE":
            del clusters[uuid]
            self._send(202, {"code": 202, "message": "deleting"})
        else:
            self._error(405, "method not allowed")

    def _create(self, collection: str, body: Any) -> None:
        fake = self.server.fake
        if not isinstance(body, dict):
            self._error(400, "body must be an object")
            return
        missing = [key for key in REQUIRED[collection] if key not in body]
        if missing:
            self._error(400, f"missing required fields: {', '.join(missing)}")
            return
        if collection == "accessRules":
            self._create_access_rule(body)
            return
        if body["clusterId"] not in fake.store["clusters"]:
            self._error(400, f"unknown clusterId {body['clusterId']}")
            return
        if collection != "nodepools":
            problem = _bad_resources(body["resources"])
            if problem:
                self._error(400, problem)
                return
        if collection == "projects" and str(body["parentId"]) not in fake.store["departments"]:
            self._error(400, f"parentId {body['parentId']} is not a department")
            return
        if any(item["name"] == body["name"] for item in fake.store[collection].values()):
            self._error(409, "Resource with this name already exists")
            return
        identifier = str(next(fake._ids))
        item = {**body, "id": identifier, "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if collection == "projects":
            namespace = body.get("requestedNamespace") or f"runai-{body['name']}"
            item["status"] = {"namespace": namespace, "phase": "Ready"}
        if collection == "nodepools":
            item |= {"isDefault": False, "phase": "Ready"}
        fake.store[collection][identifier] = item
        self._send(201, item)

    def _asset(self, kind: str, required: tuple[str, ...], identifier: str, body: Any) -> None:
        """Assets: create, PUT and DELETE answer 202; scope and its ids are
        fixed at creation (PUT takes meta.name and description)."""
        fake, assets = self.server.fake, self.server.fake.store[kind]
        if not identifier and self.command == "GET":
            self._send(200, {"entries": [_without_password(a) for a in assets.values()]})
        elif not identifier and self.command == "POST":
            meta, spec = (body or {}).get("meta") or {}, (body or {}).get("spec") or {}
            missing = [k for k in ("name", "scope") if k not in meta] + [f"spec.{k}" for k in required if k not in spec]
            if missing:
                self._error(400, f"missing required fields: {', '.join(missing)}")
            elif kind == "compute" and _bad_compute(spec):
                self._error(400, _bad_compute(spec) or "")
            elif meta["scope"] == "department" and str(meta.get("departmentId")) not in fake.store["departments"]:
                self._error(400, f"unknown departmentId {meta.get('departmentId')}")
            elif any(
                a["meta"]["name"] == meta["name"] and a["meta"]["scope"] == meta["scope"] for a in assets.values()
            ):
                self._error(409, "Resource with this name already exists")
            else:
                asset_id = str(uuid.uuid4())
                defaults = {"readOnly": True} if kind == "nfs" else {}
                item = {"meta": {**meta, "id": asset_id, "kind": kind}, "spec": {**defaults, **spec}}
                assets[asset_id] = item
                self._send(202, _without_password(item))
        elif identifier not in assets:
            self._error(404, f"asset {identifier} not found")
        elif self.command == "GET":
            self._send(200, _without_password(assets[identifier]))
        elif self.command == "PUT":
            meta = (body or {}).get("meta") or {}
            if set(meta) - {"name", "description"}:
                self._error(400, "meta: only name and description can change")
                return
            if kind == "dockerregistry" and (body or {}).get("spec"):
                self._error(400, "credentials cannot change; create new ones")
                return
            assets[identifier]["meta"].update(meta)
            assets[identifier]["spec"].update((body or {}).get("spec") or {})
            self._send(202, assets[identifier])
        elif self.command == "DELETE":
            del assets[identifier]
            self._send(202, {"code": 202, "message": "deleting"})
        else:
            self._error(405, "method not allowed")

    def _policy(self, workload: str, body: Any) -> None:
        """Workload policies: one per type and scope; PUT overwrites (and
        creates), GET and DELETE name the scope in the query."""
        fake, policies = self.server.fake, self.server.fake.store["policies"]
        if workload not in WORKLOAD_TYPES:
            self._error(404, f"no workload type {workload}")
            return
        if self.command == "PUT":
            meta = (body or {}).get("meta") or {}
            policy = (body or {}).get("policy")
            scope_ids = {"department": "departmentId", "project": "projectId"}
            id_key = scope_ids.get(meta.get("scope", ""))
            if meta.get("scope") not in {"tenant", "cluster", *scope_ids} or not isinstance(policy, dict):
                self._error(400, "meta.scope and policy are required")
                return
            if id_key and str(meta.get(id_key)) not in fake.store[f"{meta['scope']}s"]:
                self._error(400, f"unknown {id_key} {meta.get(id_key)}")
                return
            if id_key == "projectId" and not isinstance(meta.get(id_key), int):
                self._error(400, "meta.projectId is an int32")
                return
            rules = policy.get("rules") or {}
            if not isinstance(rules, dict) or not isinstance(policy.get("defaults") or {}, dict):
                self._error(400, "policy.defaults and policy.rules are objects")
                return
            key = f"{workload}/{meta['scope']}/{meta.get(id_key, '') if id_key else ''}"
            previous = policies.get(key, {}).get("meta", {}).get("id") or str(uuid.uuid4())
            policies[key] = {"meta": {**meta, "id": previous, "type": workload}, "policy": policy, "effective": policy}
            self._send(200, policies[key])
            return
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        scope = query.get("scope", "")
        id_key = {"department": "departmentId", "project": "projectId"}.get(scope)
        key = f"{workload}/{scope}/{query.get(id_key, '') if id_key else ''}"
        if key not in policies:
            self._error(404, f"no {workload} policy for {scope} {query.get(id_key or '', '')}".strip())
        elif self.command == "GET":
            self._send(200, policies[key])
        elif self.command == "DELETE":
            del policies[key]
            self._send(204)
        else:
            self._error(405, "method not allowed")

    def _create_access_rule(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        roles = {i: n for n, i in ROLES.items()}
        scopes = {"department": "departments", "project": "projects"}
        subjects = {"user", "app", "group"} | ({"service-account"} if fake.minor >= 24 else set())
        if body["subjectType"] not in subjects:
            self._error(400, f"subjectType must be one of {', '.join(sorted(subjects))}")
            return
        if not isinstance(body["roleId"], int) or body["roleId"] not in roles:
            self._error(400, f"unknown roleId {body['roleId']}")
            return
        scope = scopes.get(body["scopeType"])
        if (
            body["scopeType"] not in {"system", "tenant", "cluster", *scopes}
            or (scope and str(body["scopeId"]) not in fake.store[scope])
            or (body["scopeType"] == "tenant" and str(body["scopeId"]) != str(TENANT_ID))
        ):
            self._error(400, f"unknown scope {body['scopeType']} {body['scopeId']}")
            return
        identifier = str(next(fake._ids))
        scope_name = fake.store[scope][str(body["scopeId"])]["name"] if scope else str(body["scopeId"])
        item = {
            **body,
            "id": int(identifier),
            "roleName": roles[body["roleId"]],
            "scopeName": scope_name,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        fake.store["accessRules"][identifier] = item
        self._send(201, item)

    def _item(self, collection: str, identifier: str, tail: list[str], body: Any) -> None:
        items = self.server.fake.store[collection]
        if identifier not in items:
            self._error(404, f"{collection[:-1]} {identifier} not found")
            return
        item = items[identifier]
        if tail == ["resources"] and self.command == "PUT" and collection != "nodepools":
            problem = _bad_resources(body)
            if problem:
                self._error(400, problem)
                return
            item["resources"] = body
            self._send(200, body)
        elif tail:
            self._error(404, "no such route")
        elif self.command == "GET":
            self._send(200, item)
        elif self.command == "PUT" and collection == "accessRules":
            self._error(405, "access rules cannot be updated; delete and create")
        elif self.command == "PUT":
            if not isinstance(body, dict):
                self._error(400, "body must be an object")
                return
            immutable = sorted({"name", "clusterId", "parentId", "requestedNamespace"} & set(body))
            if immutable:
                self._error(400, f"cannot update {', '.join(immutable)}")
                return
            if "resources" in body and collection != "nodepools":
                problem = _bad_resources(body["resources"])
                if problem:
                    self._error(400, problem)
                    return
            item.update(body)
            self._send(200, item)
        elif self.command == "DELETE":
            if collection == "departments":  # cascades to its projects and assets
                store = self.server.fake.store
                for key in [k for k, p in store["projects"].items() if str(p["parentId"]) == identifier]:
                    del store["projects"][key]
                for key in [k for k, a in store["nfs"].items() if str(a["meta"].get("departmentId")) == identifier]:
                    del store["nfs"][key]
            del items[identifier]
            if collection == "nodepools":
                self._send(202, {"code": 202, "message": "deleting"})
            else:
                self._send(204)
        else:
            self._error(405, "method not allowed")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeRunai


def connection_to(url: str, fake: FakeRunai) -> str:
    """What our providers are given to reach the fake control plane."""
    return json.dumps({"url": url, "client_id": fake.client_id, "client_secret": fake.client_secret})


@contextmanager
def fake_runai(fake: FakeRunai | None = None, tls: Path | None = None) -> Iterator[tuple[str, FakeRunai]]:
    """Serve on 127.0.0.1 (a free port); yields (base URL, state). With
    `tls` (a directory), over HTTPS as a real control plane is, with a CA of
    its own there (ca.crt, for `runai.caFile`)."""
    state = fake or FakeRunai()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = state
    scheme = "http"
    if tls is not None:
        make_ca(tls, "127.0.0.1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls / "server.crt", tls / "server.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()

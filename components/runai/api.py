"""Our one door to the Run:ai control-plane API, on runapy (the Run:ai API
client, pinned to the control plane's minor version).

What it adds to runapy:
- retries on 429 and 5xx for idempotent calls only: runapy's default also
  retries POST, which after a lost response would create twice; a create
  here is retried by looking the object up by name first;
- a fresh token on 401 (runapy's own retry resends the expired one);
- a person's sign-in (the password grant), which runapy lacks: the first
  administrator makes the stack's application with it;
- timeouts, TLS verified against the organisation's CA;
- errors that name the call and the status, never a secret (the client
  secret, tokens and request bodies are left out).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runai.exceptions import ApiException

RETRIED = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Kind:
    """Where a kind of object lives, how its list is wrapped, and what makes
    two of them the same object (to find one whose create answer was lost)."""

    path: str
    list_key: str
    identity: Callable[[dict[str, Any]], Any]
    # Assets keep their id and name under `meta`.
    id_of: Callable[[dict[str, Any]], str] = lambda item: str(item["id"])


def _by_name(item: dict[str, Any]) -> Any:
    return item.get("name")


def _asset(item: dict[str, Any]) -> Any:
    meta = item.get("meta") or {}
    return (meta.get("name"), meta.get("scope"))


def _asset_id(item: dict[str, Any]) -> str:
    return str(item["meta"]["id"])


def _user(item: dict[str, Any]) -> Any:
    # Created by email; listed and read back with it as `username`.
    return item.get("username") or item.get("email")


def _access_rule(item: dict[str, Any]) -> Any:
    fields = ("subjectType", "subjectId", "roleId", "scopeType", "scopeId")
    return tuple(str(item.get(field)) for field in fields)


KINDS = {
    # Clusters are listed as a bare array and named by a UUID.
    "clusters": Kind("/api/v1/clusters", "", _by_name, lambda item: str(item["uuid"])),
    "nodepools": Kind("/api/v1/node-pools", "nodepools", _by_name),
    "departments": Kind("/api/v1/org-unit/departments", "departments", _by_name),
    "projects": Kind("/api/v1/org-unit/projects", "projects", _by_name),
    # No update exists for access rules: a change is a new rule.
    "accessrules": Kind("/api/v1/authorization/access-rules", "accessRules", _access_rule),
    "nfs": Kind("/api/v1/asset/datasource/nfs", "entries", _asset, _asset_id),
    "compute": Kind("/api/v1/asset/compute", "entries", _asset, _asset_id),
    "dockerregistry": Kind("/api/v1/asset/credentials/docker-registry", "entries", _asset, _asset_id),
    # Local users: listed as a bare array; no update exists.
    "users": Kind("/api/v1/users", "", _user),
    # Applications (what automation signs in as up to 2.23): a bare array, by name.
    "apps": Kind("/api/v1/apps", "", _by_name),
    # Service accounts (2.24+, replacing applications): the same shape.
    "serviceaccounts": Kind("/api/v1/service-accounts", "", _by_name),
    # Identity providers (2.21+): one per type, named by an alias.
    "idps": Kind("/api/v1/idps", "", lambda item: item.get("type"), lambda item: str(item["alias"])),
}
ROLES = "/api/v1/authorization/roles"
TOKEN = "/api/v1/token"
MY_PASSWORD = "/api/v1/me/password"
# A person's sign-in is refused with one of these (the exact one is not
# documented for 2.19-2.22).
REFUSED = {400, 401, 403}
WORKLOAD_SETTINGS = "/api/v1/workloads/settings"
POLICIES = "/api/v2/policy"
SCOPE_IDS = {"department": "departmentId", "project": "projectId"}
SYSTEM_ADMINISTRATOR = "System administrator"


def account_secret(answer: dict[str, Any]) -> str | None:
    """An application's `secret`, or a service account's `clientSecret`."""
    return answer.get("secret") or answer.get("clientSecret")


def _server_message(error: ApiException) -> str:
    """The control plane's own explanation (its error body's `message`),
    else the HTTP reason; request bodies and tokens are never echoed."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return str(message or error.reason or "")


class RunaiApiError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    url: str
    client_id: str
    client_secret: str
    ca_file: str | None = None

    def __repr__(self) -> str:  # never the secret
        return f"Credentials(url={self.url!r}, client_id={self.client_id!r})"


@dataclass(frozen=True)
class AdminCredentials:
    """A person's account, signed in with the password grant: the control
    plane's first administrator, used only to make the stack's application."""

    url: str
    username: str
    password: str
    ca_file: str | None = None

    def __repr__(self) -> str:  # never the password
        return f"AdminCredentials(url={self.url!r}, username={self.username!r})"


class RunaiApi:
    def __init__(
        self,
        credentials: Credentials | AdminCredentials,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # runapy loads every model of the API when imported, seconds a
        # program that calls nothing should not spend: loaded on first use.
        from runai.api_client import ApiClient
        from runai.configuration import Configuration

        from components.runai.client import PasswordSignIn

        application = isinstance(credentials, Credentials)
        configuration = Configuration(
            client_id=credentials.client_id if application else None,
            client_secret=credentials.client_secret if application else None,
            runai_base_url=credentials.url,
            ssl_ca_cert=credentials.ca_file,
            retry_enabled=False,  # ours below: idempotent calls only
        )
        self._attempts, self._backoff, self._timeout, self._sleep = attempts, backoff, timeout, sleep
        try:
            if isinstance(credentials, Credentials):
                self._client = ApiClient(configuration)
            else:
                self._client = PasswordSignIn(configuration, credentials)
        except RunaiApiError:
            raise
        except Exception as error:  # runapy raises ValueError, urllib3 errors, ...
            raise RunaiApiError(
                f"Run:ai at {credentials.url}: could not get a token ({type(error).__name__})"
            ) from None

    def _pause(self, attempt: int) -> None:
        """Exponential backoff before attempt `attempt + 1`."""
        self._sleep(self._backoff * 2 ** (attempt - 1))

    def _call(self, method: str, path: str, body: Any = None, *, retry: bool = True) -> Any:
        from runai.exceptions import ApiException

        attempt, refreshed = 0, False
        while True:
            attempt += 1
            try:
                response = self._client.call_api(method, path, body=body, _request_timeout=self._timeout)
                return response.data
            except ApiException as error:
                status = int(error.status or 0)
                if status == 401 and not refreshed:
                    # runapy only refreshes near `exp`; a token refused early
                    # (a restarted identity service) needs a new one now.
                    refreshed = True
                    self._client.token_refresher._refresh_token()
                    continue
                if retry and status in RETRIED and attempt < self._attempts:
                    self._pause(attempt)
                    continue
                raise RunaiApiError(f"{method} {path}: {status} {_server_message(error)}".strip(), status) from None
            except OSError as error:
                if retry and attempt < self._attempts:
                    self._pause(attempt)
                    continue
                raise RunaiApiError(f"{method} {path}: {type(error).__name__}") from None

    def list(self, kind: str) -> list[dict[str, Any]]:
        data = self._call("GET", KINDS[kind].path) or {}
        items: list[dict[str, Any]] = data if isinstance(data, list) else data.get(KINDS[kind].list_key, [])
        return items

    def install_info(self, cluster_uuid: str, version: str, cluster_url: str) -> dict[str, Any]:
        """What installing the cluster chart needs: {clientSecret, chartRepoURL, ...}."""
        query = urllib.parse.urlencode({"version": version, "remoteClusterUrl": cluster_url})
        path = f"{KINDS['clusters'].path}/{cluster_uuid}/cluster-install-info?{query}"
        info: dict[str, Any] = self._call("GET", path)
        return info

    def find(self, kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The existing object that `body` describes, if any."""
        identity = KINDS[kind].identity
        return next((item for item in self.list(kind) if identity(item) == identity(body)), None)

    def role_id(self, name: str) -> int:
        """Role ids differ between installs; roles are looked up by name."""
        roles = self._call("GET", ROLES) or []
        for role in roles:
            if role.get("name") == name:
                return int(role["id"])
        known = ", ".join(sorted(str(role.get("name")) for role in roles))
        raise RunaiApiError(f"Run:ai has no role named {name!r} (it has: {known})")

    def get(self, kind: str, identifier: str) -> dict[str, Any] | None:
        """The object, or None when it is gone (deleted outside the stack)."""
        try:
            item: dict[str, Any] = self._call("GET", f"{KINDS[kind].path}/{identifier}")
        except RunaiApiError as error:
            if error.status == 404:
                return None
            raise
        return item

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create once: a failed attempt whose answer was lost may have
        created it, so it is looked up by name before trying again."""
        for attempt in range(1, self._attempts + 1):
            try:
                created: dict[str, Any] = self._call("POST", KINDS[kind].path, body, retry=False)
                return created
            except RunaiApiError as error:
                if error.status == 409 or (error.status in RETRIED and attempt < self._attempts):
                    existing = self.find(kind, body)
                    if existing is not None:
                        return existing
                    if error.status == 409:
                        raise
                    self._pause(attempt)
                    continue
                raise
        raise RunaiApiError(f"POST {KINDS[kind].path}: gave up after {self._attempts} attempts")

    def update(self, kind: str, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
        updated: dict[str, Any] = self._call("PUT", f"{KINDS[kind].path}/{identifier}", body)
        return updated

    def delete(self, kind: str, identifier: str) -> None:
        try:
            self._call("DELETE", f"{KINDS[kind].path}/{identifier}")
        except RunaiApiError as error:
            if error.status != 404:  # already gone is what we wanted
                raise

    # The stack's own identity: the first administrator's password, and the
    # application the stack signs in as afterwards.

    def change_my_password(self, current: str, new: str) -> None:
        self._call("POST", MY_PASSWORD, {"currentPassword": current, "newPassword": new}, retry=False)

    def new_secret(self, kind: str, account_id: str) -> str:
        """A new secret for an application or service account (the old one
        stops working): Run:ai shows a secret only when it is made."""
        answer: dict[str, Any] = self._call("POST", f"{KINDS[kind].path}/{account_id}/secret", retry=False)
        return str(account_secret(answer))

    def admin_scope(self, username: str) -> tuple[str, str]:
        """Where `username` is System administrator (scope type and id): an
        application made by that administrator is granted the same."""
        admin = self.role_id(SYSTEM_ADMINISTRATOR)
        for rule in self.list("accessrules"):
            mine = rule.get("subjectType") == "user" and rule.get("subjectId") == username
            if mine and int(rule.get("roleId", -1)) == admin:
                return str(rule["scopeType"]), str(rule["scopeId"])
        raise RunaiApiError(f"{username} holds no {SYSTEM_ADMINISTRATOR} access rule; sign in as one who does")

    # Tenant-wide workloads settings (Admin > General settings > Workloads).

    def workload_setting(self, key: str) -> bool | None:
        """Whether the setting is on; None when the control plane has no such
        setting (404)."""
        try:
            found = self._call("GET", f"{WORKLOAD_SETTINGS}/{key}") or {}
        except RunaiApiError as error:
            if error.status == 404:
                return None
            raise
        value = found.get("value")
        return bool(value.get("enabled") if isinstance(value, dict) else value)

    def set_workload_setting(self, key: str, enabled: bool) -> None:
        self._call("PUT", f"{WORKLOAD_SETTINGS}/{key}", {"enabled": enabled})

    # Workload policies: one per workload type and scope, written whole by PUT.

    @staticmethod
    def _policy_path(workload: str, scope: str, scope_id: object) -> str:
        id_key = SCOPE_IDS.get(scope)
        return f"{POLICIES}/{workload}?scope={scope}" + (f"&{id_key}={scope_id}" if id_key else "")

    def put_policy(self, workload: str, body: dict[str, Any]) -> dict[str, Any]:
        written: dict[str, Any] = self._call("PUT", f"{POLICIES}/{workload}", body)
        return written

    def get_policy(self, workload: str, scope: str, scope_id: object) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._call("GET", self._policy_path(workload, scope, scope_id))
        except RunaiApiError as error:
            if error.status == 404:
                return None
            raise
        return found

    def delete_policy(self, workload: str, scope: str, scope_id: object) -> None:
        try:
            self._call("DELETE", self._policy_path(workload, scope, scope_id))
        except RunaiApiError as error:
            if error.status != 404:
                raise

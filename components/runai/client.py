"""runapy's client signed in as a person, imported only when the API is
called (see `RunaiApi`): runapy loads every model of the API when imported."""

from __future__ import annotations

import json

from runai.api_client import ApiClient
from runai.configuration import Configuration

from components.runai.api import TOKEN, AdminCredentials, RunaiApiError


class PasswordSignIn(ApiClient):  # type: ignore[misc]
    """runapy asks for application tokens only; a person's token comes from
    the same endpoint with the password grant (TokenRequest, 2.19-2.22), and
    runapy's refresher renews it the same way."""

    def __init__(self, configuration: Configuration, credentials: AdminCredentials) -> None:
        self._sign_in = json.dumps(
            {
                "grantType": "password",
                "clientID": "cli",
                "username": credentials.username,
                "password": credentials.password,
            }
        )
        super().__init__(configuration)

    def _make_token_request(self) -> str:
        response = self.rest_client.request(
            method="POST",
            url=f"{self.configuration.runai_base_url}{TOKEN}",
            body=self._sign_in,
            headers={"Accept": "*/*", "Content-Type": "application/json"},
        )
        try:
            answer = json.loads(response.read() or b"{}")
        except ValueError:
            answer = {}
        if response.status != 200 or "accessToken" not in answer:
            # The answer may echo the request: only its `message` is shown.
            message = answer.get("message") if isinstance(answer, dict) else None
            raise RunaiApiError(f"POST {TOKEN}: {response.status} {message or response.reason}", response.status)
        return str(answer["accessToken"])

"""The `ssh` section: how the program reaches the machines."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from stacks.base import Section, check_host


class Bastion(Section):
    """A jump host between the program and the nodes."""

    host: Annotated[str, AfterValidator(check_host)]
    port: int = Field(22, ge=1, le=65535)
    user: str = "ubuntu"
    host_key: str | None = None
    """Pinned host key of the bastion ("ssh-ed25519 AAAA..."); strongly advised."""


class SshConfig(Section):
    user: str = "ubuntu"
    """login user (root, or password-less sudo)"""
    port: int = Field(22, ge=1, le=65535)
    """SSH port"""
    bastion: Bastion | None = None
    # Refuse any node whose host key is not pinned in the inventory (prod).
    require_host_keys: bool = False
    """refuse nodes without a pinned `hostKey`"""
    connect_timeout_seconds: float = Field(15, gt=0, le=600)
    """per dial"""
    # Dial attempts per command: a freshly installed machine may still boot.
    dial_attempts: int = Field(10, ge=1, le=100)
    """dials before giving up (a machine may still be booting)"""
    dial_retry_delay_seconds: float = Field(6, ge=0, le=600)
    """pause between dials"""

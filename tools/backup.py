"""Operators' side of backups: list them, and restore one.

    python -m tools.backup list    (--s3-endpoint URL --bucket B [--prefix P] | --dir PATH)
    python -m tools.backup restore --data-dir DIR [--id ID] [--pki-dir DIR] [--etcdutl PATH]
                                   [--member-name NAME --peer-url URL] (store as above)

`restore` picks the newest complete backup (or --id), downloads it, checks
every object against its manifest, then runs `etcdutl snapshot restore` into
--data-dir (which must not exist yet), as the one member of a new etcd
cluster: with --member-name and --peer-url, the one kubeadm's etcd manifest
names (the node's name, https://ADDRESS:2380), else etcd's defaults. On a
kubeadm control plane: stop the API server and etcd (move their manifests
out of /etc/kubernetes/manifests), restore into a new directory, point
etcd's manifest at it, move the manifests back. S3 credentials come from
the usual AWS_* variables."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from components.backup.agent import Backup, BackupError, Store, backups, fetch, store_from_env


def _store(args: argparse.Namespace) -> Store:
    if args.dir:
        return store_from_env({"BACKUP_DIR": str(args.dir)})
    return store_from_env({"S3_ENDPOINT": args.s3_endpoint or "", "S3_BUCKET": args.bucket, "S3_PREFIX": args.prefix})


def choose(store: Store, wanted: str | None) -> Backup:
    found = backups(store)
    if not found:
        raise BackupError("no complete backup in the store")
    if wanted is None:
        return found[0]
    for backup in found:
        if backup.id == wanted:
            return backup
    raise BackupError(f"no complete backup {wanted}; complete ones: {', '.join(b.id for b in found)}")


def restore(
    store: Store,
    data_dir: Path,
    etcdutl: str,
    wanted: str | None,
    pki_dir: Path | None,
    member: tuple[str, str] | None = None,
) -> Backup:
    """`member`: the restored member's name and peer URL."""
    if data_dir.exists():
        raise BackupError(f"{data_dir} exists; restore into a new directory")
    backup = choose(store, wanted)
    naming = []
    if member:
        name, peer_url = member
        naming = ["--name", name, "--initial-cluster", f"{name}={peer_url}", "--initial-advertise-peer-urls", peer_url]
    with tempfile.TemporaryDirectory() as scratch:
        paths = fetch(store, backup, Path(scratch))
        result = subprocess.run(
            [etcdutl, "snapshot", "restore", str(paths["etcd.snapshot"]), "--data-dir", str(data_dir), *naming],
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BackupError(f"etcdutl snapshot restore failed: {result.stderr.strip()[-2000:]}")
        if pki_dir is not None and "pki.tar.gz" in paths:
            with tarfile.open(paths["pki.tar.gz"]) as archive:
                archive.extractall(pki_dir, filter="data")
    return backup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["list", "restore"])
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--bucket")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--dir", type=Path, help="a directory store (an NFS mount)")
    parser.add_argument("--id", help="restore this backup rather than the newest")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--pki-dir", type=Path, help="also unpack the backed-up /etc/kubernetes/pki here")
    parser.add_argument("--etcdutl", default="etcdutl")
    parser.add_argument("--member-name", help="the restored etcd member's name (a kubeadm node's: its name)")
    parser.add_argument("--peer-url", help="the restored member's peer URL (a kubeadm node's: https://ADDRESS:2380)")
    args = parser.parse_args(argv)
    if not args.dir and not args.bucket:
        parser.error("give --bucket (S3) or --dir (NFS)")
    try:
        store = _store(args)
        if args.command == "list":
            for backup in backups(store):
                print(f"{backup.id}  {backup.created.isoformat()}  {', '.join(sorted(backup.files))}")
            return 0
        if args.data_dir is None:
            parser.error("restore needs --data-dir")
        if bool(args.member_name) != bool(args.peer_url):
            parser.error("--member-name and --peer-url go together")
        member = (args.member_name, args.peer_url) if args.member_name else None
        backup = restore(store, args.data_dir, args.etcdutl, args.id, args.pki_dir, member)
    except BackupError as error:
        print(f"backup: {error}", file=sys.stderr)
        return 1
    print(f"restored backup {backup.id} into {args.data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

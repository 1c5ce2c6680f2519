"""Read and write OCI image archives with nothing but the standard library.

An OCI archive is a tar of an OCI image layout: ``oci-layout``,
``index.json`` and content-addressed ``blobs/sha256/<hex>``. This module
reads the two digests that name an image (the manifest digest, which
registries, signatures and the measurement log use, and the config digest,
Docker's "image id"), lists a layer's files for comparisons, and writes a
one-layer archive from a root filesystem tarball for the local test base.

Example::

    >>> image = OciArchive.open(Path("image/out/tap-proxy.oci.tar"))
    >>> image.manifest_digest
    'sha256:...'
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TAR_TYPE = "application/vnd.oci.image.layer.v1.tar"


class OciError(Exception):
    """An archive is not a readable single-image OCI archive."""


@dataclass(frozen=True, slots=True)
class LayerEntry:
    """One file of a layer, with what decides whether two layers are equal."""

    name: str
    kind: str
    mode: int
    uid: int
    gid: int
    mtime: int
    size: int
    content: str
    """sha256 of a regular file's bytes, or the link target, or ``""``."""

    def describe(self) -> str:
        """Return a one-line description for listings."""
        return (
            f"{self.kind} {self.mode:04o} {self.uid}:{self.gid} mtime={self.mtime} "
            f"size={self.size} {self.content[:16]} {self.name}"
        )


@dataclass(slots=True)
class OciArchive:
    """A single-image OCI archive opened for reading."""

    path: Path
    manifest_digest: str
    manifest: dict[str, Any]
    config_digest: str
    config: dict[str, Any]
    _blobs: dict[str, tarfile.TarInfo] = field(repr=False, default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> OciArchive:
        """Open ``path`` and read its index, manifest and config.

        Raises ``OciError`` when the archive holds no manifest or several.
        """
        with tarfile.open(path) as tar:
            blobs = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            index = json.loads(_read(tar, blobs, "index.json"))
            manifests = index.get("manifests", [])
            if len(manifests) != 1:
                raise OciError(f"{path}: expected one manifest, found {len(manifests)}")
            digest = manifests[0]["digest"]
            manifest = json.loads(_read(tar, blobs, _blob_name(digest)))
            config_digest = manifest["config"]["digest"]
            config = json.loads(_read(tar, blobs, _blob_name(config_digest)))
        return cls(path, digest, manifest, config_digest, config, blobs)

    @property
    def layer_digests(self) -> list[str]:
        """Return the (possibly compressed) layer blob digests, base first."""
        return [layer["digest"] for layer in self.manifest["layers"]]

    @property
    def size_bytes(self) -> int:
        """Return the bytes a registry stores: manifest, config and layers."""
        blobs = [self.manifest["config"], *self.manifest["layers"]]
        return sum(int(b["size"]) for b in blobs)

    def layer_entries(self, digest: str) -> Iterator[LayerEntry]:
        """Yield the files of one layer (gzip or plain tar) in archive order."""
        with tarfile.open(self.path) as outer:
            raw = _read(outer, self._blobs, _blob_name(digest))
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        with tarfile.open(fileobj=io.BytesIO(raw)) as layer:
            for member in layer:
                content = ""
                if member.isfile():
                    data = layer.extractfile(member)
                    content = hashlib.sha256(data.read() if data else b"").hexdigest()
                elif member.issym() or member.islnk():
                    content = member.linkname
                yield LayerEntry(
                    name=member.name.removeprefix("./"),
                    kind=_kind(member),
                    mode=member.mode,
                    uid=member.uid,
                    gid=member.gid,
                    mtime=int(member.mtime),
                    size=member.size,
                    content=content,
                )


def _blob_name(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _read(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> bytes:
    member = members.get(name)
    handle = tar.extractfile(member) if member else None
    if handle is None:
        raise OciError(f"{tar.name!s}: missing {name}")
    return handle.read()


def _kind(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.isfile():
        return "file"
    return "special"


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def write_single_layer(
    rootfs_tar: Path,
    out: Path,
    *,
    architecture: str,
    created: str,
    env: list[str],
    cmd: list[str],
) -> str:
    """Write an OCI archive whose one uncompressed layer is ``rootfs_tar``.

    Every byte is a function of the inputs (fixed tar headers, sorted JSON
    keys), so the same rootfs gives the same archive. Returns the manifest
    digest.
    """
    layer = rootfs_tar.read_bytes()
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = _canonical(
        {
            "architecture": architecture,
            "os": "linux",
            "created": created,
            "config": {"Env": env, "Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    )
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = _canonical(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": LAYER_TAR_TYPE, "digest": layer_digest, "size": len(layer)}],
        }
    )
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    index = _canonical(
        {
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": MANIFEST_TYPE, "digest": manifest_digest, "size": len(manifest)}
            ],
        }
    )
    files = [
        ("oci-layout", _canonical({"imageLayoutVersion": "1.0.0"})),
        ("index.json", index),
        (_blob_name(config_digest), config),
        (_blob_name(manifest_digest), manifest),
    ]
    tmp = out.with_suffix(out.suffix + ".partial")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ("blobs", "blobs/sha256"):
            tar.addfile(_header(name, 0, directory=True))
        for name, data in files:
            tar.addfile(_header(name, len(data)), io.BytesIO(data))
        tar.addfile(_header(_blob_name(layer_digest), len(layer)), io.BytesIO(layer))
    tmp.replace(out)
    return manifest_digest


def _header(name: str, size: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    return info

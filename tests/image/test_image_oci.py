"""OCI archives: a base archive is a function of its inputs, and verify's
comparison names what differs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from types import ModuleType

import pytest


def _rootfs(path: Path, content: bytes) -> Path:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("etc/hello")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def oci(image_scripts: dict[str, ModuleType]) -> ModuleType:
    return image_scripts["oci"]


def _write(oci: ModuleType, tmp_path: Path, name: str, content: bytes) -> Path:
    out = tmp_path / f"{name}.oci.tar"
    oci.write_single_layer(
        _rootfs(tmp_path / f"{name}.tar", content), out,
        architecture="amd64", created="1970-01-01T00:00:00Z", env=[], cmd=["/bin/sh"],
    )  # fmt: skip
    return out


def test_same_rootfs_gives_the_same_archive_bytes(oci: ModuleType, tmp_path: Path) -> None:
    first = _write(oci, tmp_path, "a", b"hello\n")
    second = _write(oci, tmp_path, "b", b"hello\n")
    assert first.read_bytes() == second.read_bytes()


def test_archive_reads_back(oci: ModuleType, tmp_path: Path) -> None:
    image = oci.OciArchive.open(_write(oci, tmp_path, "a", b"hello\n"))
    assert image.manifest_digest.startswith("sha256:")
    assert image.config["rootfs"]["diff_ids"] == image.layer_digests
    [entry] = list(image.layer_entries(image.layer_digests[0]))
    assert entry.name == "etc/hello" and entry.kind == "file"


def test_compare_reports_ok_for_equal_images(
    oci: ModuleType, image_scripts: dict[str, ModuleType], tmp_path: Path
) -> None:
    image = oci.OciArchive.open(_write(oci, tmp_path, "a", b"hello\n"))
    report = image_scripts["verify"].compare(image, image)
    assert [line[:4] for line in report] == ["OK  ", "OK  "]


def test_compare_names_the_differing_file(
    oci: ModuleType,
    image_scripts: dict[str, ModuleType],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verify = image_scripts["verify"]
    monkeypatch.setattr(verify.shutil, "which", lambda _: None)  # the listing, not diffoscope
    a = oci.OciArchive.open(_write(oci, tmp_path, "a", b"hello\n"))
    b = oci.OciArchive.open(_write(oci, tmp_path, "b", b"hellO\n"))
    report = verify.compare(a, b)
    assert report[0].startswith("FAIL manifest-digest")
    assert any(line.startswith("layer 0 differs") for line in report)
    assert sum("etc/hello" in line for line in report) == 2


def test_archive_without_index_is_refused(oci: ModuleType, tmp_path: Path) -> None:
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(oci.OciError):
        oci.OciArchive.open(empty)

"""Turning an uploaded function (a source file, a zipped folder, or a pickled
callable) into what the platform stores, refusing what cannot run.

Files are unpacked under the data directory, one folder per content digest, so a
worker can import a zipped folder's other modules next to its entry point.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from qlambda.gateway import parameters as params
from qlambda.gateway.settings import GatewaySettings
from qlambda.platform.functions import Function, FunctionPayload

KINDS = ("source", "zip", "pickle")


class UploadError(ValueError):
    """The upload cannot be registered; ``status`` is the HTTP answer (413 or 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Prepared:
    payload: FunctionPayload
    parameters: list[params.Parameter] | None


def decode(content: str, settings: GatewaySettings) -> bytes:
    if len(content) > settings.max_upload_bytes * 4 // 3 + 4:
        raise UploadError(_too_large(settings), 413)
    try:
        blob = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError("content must be base64 (standard alphabet, padded)") from None
    if len(blob) > settings.max_upload_bytes:
        raise UploadError(_too_large(settings), 413)
    return blob


def _too_large(settings: GatewaySettings) -> str:
    return f"the upload is larger than the limit of {settings.max_upload_bytes} bytes"


def check_dependencies(requirements: list[str]) -> None:
    """Every declared requirement must be satisfied by the workers' environment."""
    problems = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise UploadError(
                f"dependency {text!r} is not a valid requirement ({exc}); "
                "accepted: PEP 508 strings such as 'numpy>=2'"
            ) from None
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed")
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name} {version} does not satisfy {text!r}")
    if problems:
        raise UploadError("the workers cannot satisfy the dependencies: " + "; ".join(problems))


def prepare(request: Any, owner: str, data_dir: Path, settings: GatewaySettings) -> Prepared:
    """``request``: a validated registration (name, kind, content, entrypoint, parameters)."""
    blob = decode(request.content, settings)
    if request.kind == "pickle":
        if request.entrypoint is not None:
            raise UploadError("entrypoint is for kind 'source' or 'zip'; a pickle has none")
        if request.parameters is None:
            declared = None
        else:
            try:
                declared = params.validate(request.parameters)
            except ValueError as exc:
                raise UploadError(str(exc)) from None
        digest = hashlib.blake2b(blob, digest_size=16)
        digest.update(request.name.encode())
        payload = FunctionPayload(
            digest.hexdigest(), request.name, "pickle", blob, None, request.signature
        )
        return Prepared(payload, declared)
    if request.parameters is not None:
        raise UploadError("parameters are read from the source for kind 'source' or 'zip'")
    file, function = _split(request.entrypoint, request.kind)
    # per owner: a sandboxed job sees its owner's uploads, nobody else's
    folder = data_dir / "functions" / owner / hashlib.sha256(blob).hexdigest()[:32]
    if request.kind == "source":
        files = {file: blob}
    else:
        files = _unzip(blob, settings)
        if file not in files:
            python = sorted(name for name in files if name.endswith(".py"))
            raise UploadError(
                f"the zip has no file {file!r}; its Python files: {', '.join(python) or 'none'}"
            )
    try:
        source = files[file].decode()
    except UnicodeDecodeError:
        raise UploadError(f"{file} is not UTF-8 text") from None
    try:
        found = params.from_source(source, file, function)
    except ValueError as exc:
        raise UploadError(str(exc)) from None
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.write_bytes(data)
    entry = Function(name=request.name, entrypoint=f"{folder / file}:{function}")
    return Prepared(entry.payload(), found)


def _split(entrypoint: str | None, kind: str) -> tuple[str, str]:
    accepted = "'file.py:function' (for a zip, the file's path inside it: 'pkg/main.py:run')"
    if not entrypoint:
        raise UploadError(f"kind {kind!r} needs an entrypoint: {accepted}")
    file, sep, function = entrypoint.rpartition(":")
    path = PurePosixPath(file)
    if (
        not sep
        or not function.isidentifier()
        or path.suffix != ".py"
        or path.is_absolute()
        or ".." in path.parts
        or (kind == "source" and len(path.parts) != 1)
    ):
        raise UploadError(f"entrypoint {entrypoint!r} is not accepted; give {accepted}")
    return str(path), function


def _unzip(blob: bytes, settings: GatewaySettings) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise UploadError("content is not a zip archive") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if sum(m.file_size for m in members) > settings.max_unpacked_bytes:
        raise UploadError(f"the zip unpacks to more than {settings.max_unpacked_bytes} bytes", 413)
    files = {}
    for member in members:
        path = PurePosixPath(member.filename)
        if path.is_absolute() or ".." in path.parts:
            raise UploadError(f"the zip member {member.filename!r} points outside its folder")
        try:
            files[str(path)] = archive.read(member)
        except (zipfile.BadZipFile, RuntimeError, ValueError) as exc:
            raise UploadError(f"the zip member {member.filename!r} cannot be read: {exc}") from None
    return files

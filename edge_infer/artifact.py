"""An artifact on disk: a model file and the manifest beside it, checked by sha256."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge_infer.errors import ArtifactError
from edge_infer.formats import FormatInfo, get_format
from edge_infer.manifest import MANIFEST_SUFFIX, Manifest, manifest_path_for, sha256_file


@dataclass(frozen=True)
class Artifact:
    """A verified model file and its manifest."""

    path: Path
    manifest_path: Path
    manifest: Manifest

    @property
    def format(self) -> FormatInfo:
        return get_format(self.manifest.format)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, check_sha256: bool = True) -> Artifact:
        """Open an artifact from its model file or its manifest; refuse a model file whose sha256 does not match."""
        p = Path(path)
        if p.is_dir():
            raise ArtifactError(f"{p}: is a folder; give the model file or its manifest (.json)")
        if p.name.endswith(MANIFEST_SUFFIX):
            manifest_path = p
            manifest = Manifest.read(manifest_path)
            model_path = manifest_path.parent / manifest.model_file
        else:
            if not p.exists():
                raise ArtifactError(f"{p}: file not found")
            manifest_path = manifest_path_for(p)
            if not manifest_path.exists():
                raise ArtifactError(
                    f"{p}: no manifest beside it (expected {manifest_path.name}); "
                    "copy the .json manifest along with the model file, or re-export with edge-infer export"
                )
            manifest = Manifest.read(manifest_path)
            model_path = p
        if not model_path.exists():
            raise ArtifactError(f"{manifest_path}: model file {model_path} not found")
        if check_sha256:
            actual = sha256_file(model_path)
            if actual != manifest.sha256:
                raise ArtifactError(
                    f"{model_path}: sha256 mismatch (manifest {manifest.sha256[:12]}…, file {actual[:12]}…); "
                    "the file was changed or corrupted after export, refusing to load it"
                )
        return cls(path=model_path, manifest_path=manifest_path, manifest=manifest)


def write_artifact(model_path: str | os.PathLike[str], manifest: Manifest) -> Artifact:
    """Fill in sha256/size from the model file, write the manifest beside it, and return the artifact."""
    p = Path(model_path)
    full = manifest.with_updates(model_file=p.name, sha256=sha256_file(p), size_bytes=p.stat().st_size)
    mpath = full.write(manifest_path_for(p))
    return Artifact(path=p, manifest_path=mpath, manifest=full)

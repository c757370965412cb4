"""Test helper for saved model files: edit the manifest of a file."""

import json
import zipfile


def edit_manifest(path, edit):
    """Rewrite `path` with ``edit(manifest)`` applied to its manifest (other members kept)."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(parts["manifest.json"])
    edit(manifest)
    parts["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)

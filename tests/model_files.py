"""Test helpers for saved model files: edit a manifest, load files from before a parameter."""

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


def assert_loads_as_before(synth, tmp_path, parameter, edit=None, old_value=False):
    """A file and a pickle of `synth` written before `parameter` existed load with `old_value`.

    `synth` was fitted with ``parameter=old_value``; the file loses the parameter (and
    whatever `edit(manifest)` also removes), the pickled state loses the attribute, and both
    must still sample exactly as `synth` does.
    """
    from cdmtehr import CDMTSynthesizer

    expected = synth.sample(3, steps=2, random_state=0)
    path = tmp_path / "model.cdmt"
    synth.save(path)

    def as_before(manifest):
        del manifest["params"][parameter]
        if edit is not None:
            edit(manifest)

    edit_manifest(path, as_before)
    loaded = CDMTSynthesizer.load(path)
    assert getattr(loaded, parameter) is old_value
    assert loaded.sample(3, steps=2, random_state=0).equals(expected)

    state = synth.__getstate__()
    del state[parameter]
    old = CDMTSynthesizer.__new__(CDMTSynthesizer)
    old.__setstate__(state)
    assert old.get_params()[parameter] is old_value
    assert old.sample(3, steps=2, random_state=0).equals(expected)

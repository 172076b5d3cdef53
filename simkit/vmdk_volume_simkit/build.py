#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Build our vCenter simulator (``vcsim/``, Go) once per source version.

The binary is built from Debian's govmomi source (package golang-github-vmware-govmomi-dev)
in GOPATH mode, so no network is needed, with ``PATCHES`` applied to copies of a few of its
files through ``go build -overlay``, and cached under a hash of the Go sources, the patches
and the Go version: a second build of the same sources is a no-op, and concurrent builders
race safely (each builds into a temporary directory and renames it into place).
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

SOURCE_DIR = pathlib.Path(__file__).with_name('vcsim')
GOPATH = pathlib.Path('/usr/share/gocode')
BINARY_NAME = 'vmdk-vcsim'
GOVMOMI = GOPATH / 'src/github.com/vmware/govmomi'

# govmomi file -> (text, replacement): where vcsim differs from vCenter in a way our Go files
# cannot override.
PATCHES = {
    # WaitForUpdatesEx batches changes on a 250 ms tick; vCenter answers as they happen.
    'simulator/property_collector.go': (
        'time.NewTicker(250 * time.Millisecond)', 'time.NewTicker(5 * time.Millisecond)'),
}


class BuildError(RuntimeError):
    """The simulator could not be built; the message says what is missing."""


def cache_root() -> pathlib.Path:
    """Where the simulator kit keeps built binaries and generated WSDLs."""
    if env := os.environ.get('VMDK_VOLUME_CACHE'):
        return pathlib.Path(env)
    xdg = os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache'
    return pathlib.Path(xdg) / 'vmdk-volume'


def ensure_binary() -> pathlib.Path:
    """Return the path of a built simulator binary, building it if needed."""
    go = shutil.which('go')
    if go is None:
        raise BuildError('the Go toolchain is missing: apt-get install golang-go '
                         'golang-github-vmware-govmomi-dev (tools/install-system-deps)')
    if not (GOVMOMI / 'simulator').is_dir():
        raise BuildError('govmomi source is missing under %s: apt-get install '
                         'golang-github-vmware-govmomi-dev' % GOPATH)
    target = cache_root() / ('vcsim-' + _source_hash(go)) / BINARY_NAME
    if not target.exists():
        _build(go, target)
    return target


def _source_hash(go: str) -> str:
    digest = hashlib.sha256(_go_version(go).encode() + repr(sorted(PATCHES.items())).encode())
    for path in sorted(SOURCE_DIR.glob('*.go')):
        digest.update(path.name.encode() + b'\0' + path.read_bytes())
    return digest.hexdigest()[:16]


def _go_version(go: str) -> str:
    return subprocess.run([go, 'version'], check=True, capture_output=True,
                          text=True).stdout.strip()


def _build(go: str, target: pathlib.Path) -> None:
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=target.parent.parent, prefix='.build-'))
    try:
        env = dict(os.environ, GOPATH=str(GOPATH), GO111MODULE='off', CGO_ENABLED='0',
                   GOCACHE=str(cache_root() / 'go-build'), GOFLAGS='')
        overlay = _write_overlay(staging)
        result = subprocess.run([go, 'build', '-overlay', str(overlay),
                                 '-o', str(staging / BINARY_NAME), '.'],
                                cwd=SOURCE_DIR, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError('building the simulator failed:\n' + result.stderr)
        for path in staging.glob('patched-*'):
            path.unlink()
        overlay.unlink()
        try:
            staging.rename(target.parent)
        except OSError:
            if not target.exists():  # not a lost race with another builder
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_overlay(staging: pathlib.Path) -> pathlib.Path:
    """Patched copies of ``PATCHES``' files in ``staging`` and the overlay naming them."""
    replace = {}
    for index, (name, (text, replacement)) in enumerate(sorted(PATCHES.items())):
        source = (GOVMOMI / name).read_text()
        if text not in source:
            raise BuildError('cannot patch %s: %r is not in this govmomi version'
                             % (GOVMOMI / name, text))
        copy = staging / ('patched-%d.go' % index)
        copy.write_text(source.replace(text, replacement))
        replace[str(GOVMOMI / name)] = str(copy)
    overlay = staging / 'overlay.json'
    overlay.write_text(json.dumps({'Replace': replace}))
    return overlay

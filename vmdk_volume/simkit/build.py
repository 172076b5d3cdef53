"""Build our vCenter simulator (``vcsim/``, Go) once per source version.

The binary is built from Debian's govmomi source (package golang-github-vmware-govmomi-dev)
in GOPATH mode, so no network is needed, and cached under a hash of the Go sources and the Go
version: a second build of the same sources is a no-op, and concurrent builders race safely
(each builds into a temporary directory and renames it into place).
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile

SOURCE_DIR = pathlib.Path(__file__).with_name('vcsim')
GOPATH = pathlib.Path('/usr/share/gocode')
BINARY_NAME = 'vmdk-vcsim'


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
    if not (GOPATH / 'src/github.com/vmware/govmomi/simulator').is_dir():
        raise BuildError('govmomi source is missing under %s: apt-get install '
                         'golang-github-vmware-govmomi-dev' % GOPATH)
    target = cache_root() / ('vcsim-' + _source_hash(go)) / BINARY_NAME
    if not target.exists():
        _build(go, target)
    return target


def _source_hash(go: str) -> str:
    digest = hashlib.sha256(_go_version(go).encode())
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
        result = subprocess.run([go, 'build', '-o', str(staging / BINARY_NAME), '.'],
                                cwd=SOURCE_DIR, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError('building the simulator failed:\n' + result.stderr)
        try:
            staging.rename(target.parent)
        except OSError:
            if not target.exists():  # not a lost race with another builder
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

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

"""vmdk-volume: the operator's and developer's command line.

``check`` reports whether each backend of a cinder.conf is usable, ``orphans`` lists (and
deletes) what no Cinder volume or snapshot owns. Other distributions add commands as plugins
in the stevedore namespace ``vmdk_volume.cli`` (``PLUGINS``): the simulator kit
(vmdk-volume-simkit) adds ``demo`` and ``simulator``.

Errors are one line naming the cause and what to fix; ``--debug`` adds the traceback.
"""

import argparse
import json
import logging
import sys
import traceback
import warnings

DEFAULT_CONF = '/etc/cinder/cinder.conf'
EXIT_UNUSABLE, EXIT_ERROR = 1, 2
PLUGINS = 'vmdk_volume.cli'


def _expected() -> tuple[type[Exception], ...]:
    """Failures reported as one line: their message names the cause and what to fix."""
    from vmdk_volume.cmd import cinderconf
    from vmdk_volume.core.config import ConfigError
    from vmdk_volume.vsphere import errors
    return cinderconf.ConfFileError, ConfigError, errors.VSphereError, OSError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Library deprecation notices (eventlet) and suds' note on vCenter's HTTP 200 faults
    # are noise for an operator.
    warnings.simplefilter('ignore', DeprecationWarning)
    warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    logging.getLogger('suds').setLevel(logging.ERROR)
    try:
        return args.run(args)
    except (*_expected(), *args.errors) as error:
        if args.debug:
            traceback.print_exc()
        print('vmdk-volume %s: %s' % (args.command, error), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='vmdk-volume', description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--debug', action='store_true', help='show tracebacks of errors')
    parser.set_defaults(errors=())
    commands = parser.add_subparsers(dest='command', required=True)
    conf = argparse.ArgumentParser(add_help=False, parents=[common])
    conf.add_argument('--config-file', action='append', metavar='PATH',
                      help='Cinder configuration file; repeat as for cinder-volume '
                           '(default: %s)' % DEFAULT_CONF)
    conf.add_argument('--backend', metavar='NAME', help='only this backend section')

    check = commands.add_parser('check', parents=[conf],
                                help="report whether each backend is usable, and what to fix")
    check.add_argument('--json', action='store_true', help='print the report as JSON')
    check.set_defaults(run=_check)

    orphans = commands.add_parser('orphans', parents=[conf],
                                  help='list (and delete) what no Cinder volume owns')
    orphans.add_argument('--ids-from-stdin', action='store_true',
                         help="read the ids of Cinder's volumes and snapshots from stdin "
                              "instead of Cinder's database (read once: the grace period "
                              "must then be longer than the time since they were listed, "
                              "and cannot be 0)")
    orphans.add_argument('--delete', action='store_true',
                         help='delete the orphans listed (not image-cache entries)')
    orphans.add_argument('--include-cache', action='store_true',
                         help='with --delete, delete the image-cache entries listed too')
    orphans.add_argument('--grace-minutes', type=_minutes, default=60, metavar='MINUTES',
                         help='skip (list as "skipped, too new") what was made (a file: '
                              'last written) less than this long before the scan began, by '
                              'vCenter\'s clock (default: 60)')
    orphans.set_defaults(run=_orphans)

    _add_plugins(commands, common)
    return parser


def _add_plugins(commands, common) -> None:
    """A subcommand for each plugin installed in the ``PLUGINS`` namespace."""
    from stevedore import extension
    manager = extension.ExtensionManager(PLUGINS, invoke_on_load=True)
    for ext in sorted(manager, key=lambda ext: ext.name):
        command = commands.add_parser(ext.name, parents=[common], help=ext.obj.help)
        ext.obj.add_arguments(command)
        command.set_defaults(run=ext.obj.run, errors=ext.obj.errors)


def _conf(args):
    from vmdk_volume.cmd import cinderconf
    files = tuple(args.config_file or [DEFAULT_CONF])
    return files, cinderconf.load(list(files))


def _progress(enabled: bool):
    """A callback showing the current step on stderr's line (a terminal only)."""
    if not enabled:
        return lambda backend, step: None

    def show(backend: str, step: str) -> None:
        sys.stderr.write('\r\033[K%s: %s ...' % (backend, step) if step else '\r\033[K')
        sys.stderr.flush()
    return show


def _check(args) -> int:
    from vmdk_volume.cmd import check, cinderdb
    files, conf = _conf(args)
    sections = conf.ours(args.backend)
    volume_types = cinderdb.volume_types(files) if conf.database_connection else None
    progress = _progress(sys.stderr.isatty() and not args.json)
    reports = []
    for section in sections:
        recorded = cinderdb.recorded(files, section.name) if conf.database_connection \
            else None
        reports.append(check.check_backend(section.name, section, volume_types,
                                           lambda step, name=section.name:
                                           progress(name, step), recorded))
        progress(section.name, '')
    if args.json:
        print(json.dumps({'usable': all(r.usable for r in reports),
                          'backends': [r.as_dict() for r in reports]}, indent=2))
    else:
        sys.stdout.write(check.format_text(reports))
    return 0 if all(r.usable for r in reports) else EXIT_UNUSABLE


def _minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if not 0 <= minutes <= 10 ** 8:        # also refuses nan and inf
        raise argparse.ArgumentTypeError('%r is not a number of minutes (0 or more)' % text)
    return minutes


def _orphans(args) -> int:
    from vmdk_volume.cmd import orphans
    from vmdk_volume.cmd.cinderconf import ConfFileError
    if args.ids_from_stdin and not args.grace_minutes:
        raise ConfFileError('--grace-minutes 0 needs the ids read again before each deletion, '
                            "from Cinder's database ([database] connection): ids from stdin "
                            'are read once; give a grace period longer than the time since '
                            'they were listed')
    files, conf = _conf(args)
    return orphans.run(files, conf, args)


if __name__ == '__main__':
    sys.exit(main())

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

"""WaitForUpdatesEx replies read as plain values, without suds' unmarshalling.

suds turns each element of a reply into an object typed from the WSDL, at about 70 µs an
element: the first update set of an inventory of 32 hosts and 200 datastores (50,000
elements, mostly the datastores' host mounts) costs 3.7 s of CPU, 85 % of it in suds. A call
made under ``raw_reply(method)`` still goes through oslo.vmware (session renewal, retries,
faults raised as usual), but ``RawReplies``, a suds message plugin, takes its successful
reply: ElementTree (C) parses it and suds is handed an empty reply in its place.

Values are decoded by shape: an ``ArrayOf...`` is a list, an element with children a dict of
them by name, any other its text (a reference's text is its moref value); the reader
converts numbers and booleans it expects.
"""

import contextlib
import dataclasses
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from defusedxml import ElementTree as SafeET
from suds import plugin

_SOAP = '{http://schemas.xmlsoap.org/soap/envelope/}'
_VIM = '{urn:vim25}'
_XSI_TYPE = '{http://www.w3.org/2001/XMLSchema-instance}type'
_EMPTY = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
          '"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><%s xmlns="urn:vim25"/>'
          '</soapenv:Body></soapenv:Envelope>')
_local = threading.local()       # the ``_this`` of the call this thread is sending
_slots: dict[str, '_Slot'] = {}  # collector moref value -> the slot its reply lands in
_slots_lock = threading.Lock()
_THIS = re.compile(rb'<(?:\w+:)?_this[^>]*>([^<]+)</(?:\w+:)?_this>')


@dataclasses.dataclass(frozen=True)
class ObjectUpdate:
    """One object entering, changing or leaving a filter's view, with the properties that
    changed (an unset property: None)."""

    kind: str                  # enter, modify, leave
    type: str                  # the object's managed type
    ref: str                   # its moref value
    changes: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class UpdateSet:
    version: str
    truncated: bool
    objects: tuple[ObjectUpdate, ...]


class RawReplies(plugin.MessagePlugin):
    """Takes the reply of a call made under ``raw_reply`` (see the module docstring)."""

    def sending(self, context):
        envelope = context.envelope
        found = _THIS.search(envelope if isinstance(envelope, bytes) else envelope.encode())
        _local.sent = found.group(1).decode() if found else None

    def received(self, context):
        with _slots_lock:
            slot = _slots.get(getattr(_local, 'sent', None) or '')
        if slot is None or slot.reply is not None:
            return
        body = SafeET.fromstring(context.reply).find(_SOAP + 'Body')
        response = body[0] if body is not None and len(body) else None
        if response is None or response.tag != _VIM + slot.method + 'Response':
            return      # a fault, or another call oslo.vmware made meanwhile (a login)
        slot.reply = response
        context.reply = (_EMPTY % (slot.method + 'Response')).encode()


@dataclasses.dataclass
class _Slot:
    method: str
    reply: Any = None


@contextlib.contextmanager
def raw_reply(method: str, this: str) -> Iterator[_Slot]:
    """Within the block, the successful reply of ``method`` called on the object ``this``
    (a moref value of the caller's own, such as its property collector) lands in the slot
    yielded (its ``reply``: the response element) instead of suds' objects. Matched by the
    request's ``_this``, not by thread: oslo.vmware may send the call from another thread
    (or greenthread, under eventlet) than the caller's."""
    slot = _Slot(method)
    with _slots_lock:
        _slots[this] = slot
    try:
        yield slot
    finally:
        with _slots_lock:
            _slots.pop(this, None)


def update_set(response) -> UpdateSet | None:
    """The UpdateSet of a WaitForUpdatesEx response element (None: no updates)."""
    returnval = response.find(_VIM + 'returnval')
    if returnval is None:
        return None
    objects = tuple(_object_update(update)
                    for filter_update in returnval.findall(_VIM + 'filterSet')
                    for update in filter_update.findall(_VIM + 'objectSet'))
    return UpdateSet(version=returnval.findtext(_VIM + 'version', ''),
                     truncated=returnval.findtext(_VIM + 'truncated') == 'true',
                     objects=objects)


def _object_update(element) -> ObjectUpdate:
    obj = element.find(_VIM + 'obj')
    changes = {}
    for change in element.findall(_VIM + 'changeSet'):
        val = change.find(_VIM + 'val')
        changes[change.findtext(_VIM + 'name')] = None if val is None else value(val)
    return ObjectUpdate(kind=element.findtext(_VIM + 'kind'), type=obj.get('type'),
                        ref=obj.text, changes=changes)


def value(element) -> Any:
    """A property value decoded by its shape (see the module docstring)."""
    if len(element) == 0:
        return element.text or ''
    if element.get(_XSI_TYPE, '').rpartition(':')[2].startswith('ArrayOf'):
        return [value(child) for child in element]
    return {child.tag[len(_VIM):]: value(child) for child in element}

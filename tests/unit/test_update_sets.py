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

"""The inventory watch's raw replies reach the caller whichever thread sends the call (under
eventlet oslo.vmware sends it from a looping call's greenthread, not the caller's)."""

import threading
import types

from vmdk_volume.vsphere import update_sets

ENVELOPE = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
            b'<soapenv:Body><ns1:WaitForUpdatesEx xmlns:ns1="urn:vim25"><ns1:_this '
            b'type="PropertyCollector">%s</ns1:_this></ns1:WaitForUpdatesEx></soapenv:Body>'
            b'</soapenv:Envelope>')
REPLY = (b'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv='
         b'"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><WaitForUpdatesExResponse '
         b'xmlns="urn:vim25"><returnval><version>7</version></returnval>'
         b'</WaitForUpdatesExResponse></soapenv:Body></soapenv:Envelope>')


def _send_and_receive(collector: bytes) -> None:
    """What suds does for one call, on the thread that sends it."""
    plugin = update_sets.RawReplies()
    plugin.sending(types.SimpleNamespace(envelope=ENVELOPE % collector))
    plugin.received(types.SimpleNamespace(reply=REPLY))


def test_a_reply_sent_from_another_thread_lands_in_the_callers_slot():
    with update_sets.raw_reply('WaitForUpdatesEx', 'session[1]collector-1') as slot:
        sender = threading.Thread(target=_send_and_receive, args=(b'session[1]collector-1',))
        sender.start()
        sender.join()
    assert update_sets.update_set(slot.reply).version == '7'


def test_another_collectors_reply_is_left_to_suds():
    with update_sets.raw_reply('WaitForUpdatesEx', 'session[1]collector-1') as slot:
        _send_and_receive(b'session[1]collector-2')     # the task waits' collector, say
    assert slot.reply is None

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

"""What the task waiter keeps between waits, on a scripted vCenter."""

from tests.soap import fake
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import tasks

SUCCESS = ('<changeSet><name>info.state</name><op>assign</op>'
           '<val xsi:type="TaskInfoState">success</val></changeSet>')


def _updates(version: int, *objects: tuple[str, str]) -> fake.Returns:
    """An UpdateSet reporting each (kind, task) as succeeded."""
    return fake.Returns(
        '<version>%d</version><filterSet><filter type="PropertyFilter">filter-1</filter>%s'
        '</filterSet>' % (version, ''.join(
            '<objectSet><kind>%s</kind><obj type="Task">%s</obj>%s</objectSet>'
            % (kind, task, SUCCESS) for kind, task in objects)))


def _calls_to_wait_for(fake_vc, client, task: str) -> list[str]:
    """The calls a new wait for ``task`` (its moref given again, as after a vCenter restart)
    costs: the Destroy_Task alone if the waiter still remembers how the task ended, else a
    long poll that reports nothing and a read of the task too."""
    fake_vc.script('Destroy_Task', fake.ref('Task', task))
    fake_vc.script('WaitForUpdatesEx', fake.Returns())
    fake_vc.script('RetrievePropertiesEx', fake.Returns(
        '<objects><obj type="Task">%s</obj><propSet><name>info.state</name>'
        '<val xsi:type="TaskInfoState">success</val></propSet></objects>' % task))
    fake_vc.calls.clear()
    client.run('Destroy_Task', client.ref('VirtualMachine', 'vm-1'))
    return list(fake_vc.calls)


REMEMBERED = ['Destroy_Task']
ASKED = ['Destroy_Task', 'WaitForUpdatesEx', 'RetrievePropertiesEx']


def test_a_collector_made_at_set_up_serves_the_first_wait(fake_vc, fake_endpoint):
    fake_vc.script('CreatePropertyCollector', fake.ref('PropertyCollector', 'collector-2'))
    fake_vc.script('Destroy_Task', fake.ref('Task', 'task-7'))
    fake_vc.script('WaitForUpdatesEx', _updates(1, ('enter', 'task-7')))
    client = vclient.Client.connect(fake_endpoint)
    fake_vc.calls.clear()

    client.watch_tasks()
    set_up = list(fake_vc.calls)
    fake_vc.calls.clear()
    client.run('Destroy_Task', client.ref('VirtualMachine', 'vm-1'))

    assert set_up == ['CreatePropertyCollector', 'CreateFilter']
    assert fake_vc.calls == ['Destroy_Task', 'WaitForUpdatesEx']


def test_a_change_reported_after_its_wait_ended_is_not_kept(fake_vc, fake_endpoint):
    """vCenter may report a task's change again after its waiter saw it end (a later update
    round); a waiter that kept it would hold every such task for the session's life."""
    fake_vc.script('CreatePropertyCollector', fake.ref('PropertyCollector', 'collector-2'))
    fake_vc.script('Destroy_Task', fake.ref('Task', 'task-7'), fake.ref('Task', 'task-8'))
    fake_vc.script('WaitForUpdatesEx', _updates(1, ('enter', 'task-7')),
                   _updates(2, ('modify', 'task-7'), ('enter', 'task-8')))
    client = vclient.Client.connect(fake_endpoint)
    vm = client.ref('VirtualMachine', 'vm-1')

    client.run('Destroy_Task', vm)
    client.run('Destroy_Task', vm)

    assert _calls_to_wait_for(fake_vc, client, 'task-7') == ASKED


def _one_wait_seeing_another_task(fake_vc, fake_endpoint):
    """A client whose wait for task-8 saw task-5, which no one here waits for, enter the
    recent tasks (one update round before task-8's)."""
    fake_vc.script('CreatePropertyCollector', fake.ref('PropertyCollector', 'collector-2'))
    fake_vc.script('Destroy_Task', fake.ref('Task', 'task-8'))
    fake_vc.script('WaitForUpdatesEx', _updates(1, ('enter', 'task-5')),
                   _updates(2, ('enter', 'task-8')))
    client = vclient.Client.connect(fake_endpoint)
    client.run('Destroy_Task', client.ref('VirtualMachine', 'vm-1'))
    return client


def test_a_task_reported_before_its_waiter_asked_is_answered_from_the_report(
        fake_vc, fake_endpoint):
    client = _one_wait_seeing_another_task(fake_vc, fake_endpoint)
    assert _calls_to_wait_for(fake_vc, client, 'task-5') == REMEMBERED


def test_a_task_nobody_here_waits_for_is_forgotten_after_a_while(fake_vc, fake_endpoint,
                                                                 monkeypatch):
    """Another client's task (or one whose end was reported before its waiter asked and
    that no one claimed) is listed by recentTask long after it ended."""
    monkeypatch.setattr(tasks, 'UNCLAIMED_S', 0)
    client = _one_wait_seeing_another_task(fake_vc, fake_endpoint)
    assert _calls_to_wait_for(fake_vc, client, 'task-5') == ASKED


def test_a_task_whose_end_was_forgotten_is_read_after_a_silent_round(fake_vc, fake_endpoint):
    fake_vc.script('CreatePropertyCollector', fake.ref('PropertyCollector', 'collector-2'))
    fake_vc.script('Destroy_Task', fake.ref('Task', 'task-8'))
    fake_vc.script('WaitForUpdatesEx', fake.Returns())     # the long poll ends without news
    fake_vc.script('RetrievePropertiesEx', fake.Returns(
        '<objects><obj type="Task">task-8</obj><propSet><name>info.state</name>'
        '<val xsi:type="TaskInfoState">success</val></propSet></objects>'))
    client = vclient.Client.connect(fake_endpoint)
    fake_vc.calls.clear()

    client.run('Destroy_Task', client.ref('VirtualMachine', 'vm-1'))

    assert fake_vc.calls == ['Destroy_Task', 'CreatePropertyCollector', 'CreateFilter',
                             'WaitForUpdatesEx', 'RetrievePropertiesEx']

"""Config changes: recorded after commit, debounced, turned into ESL commands, applied by CAS."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from portal.billing.services import option_set
from portal.directory.models import PhoneNumber
from portal.events import announce_config_change
from portal.switch import services
from portal.switch.models import ConfigChange, Node, NodeSync
from portal.switch.selectors import SyncState, node_status_rows
from tests import factories

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def node(db):
    return services.nodes_sync_from_settings(nodes={"fs1": {"host": "127.0.0.1", "port": 8021}})[0]


def change(customer, what, at=T0):
    return ConfigChange.objects.create(customer=customer, what=what, created_at=at)


def multichannel_department(customer):
    department = factories.department(customer)
    factories.number(customer, kind=PhoneNumber.Kind.MULTICHANNEL, department=department)
    return department


# --- recording changes -----------------------------------------------------------------------


def test_an_option_toggle_records_a_config_change_once_the_transaction_commits(
    customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        option_set(customer=customer, code="callback", enabled=True)
        assert not ConfigChange.objects.exists()  # nothing before the commit
    for callback in callbacks:
        callback()
    (recorded,) = ConfigChange.objects.all()
    assert recorded.customer == customer and recorded.what == "option"


def test_an_option_toggle_with_executed_commit_callbacks_records_one_change(
    customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        option_set(customer=customer, code="callback", enabled=True)
    assert list(ConfigChange.objects.values_list("customer_id", "what")) == [
        (customer.pk, "option")
    ]


def test_an_unchanged_option_records_nothing(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        option_set(customer=customer, code="callback", enabled=False)
    assert not ConfigChange.objects.exists()


def test_a_change_for_a_deleted_customer_is_still_recorded_without_a_customer(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        announce_config_change(customer_id=987654, what="number")
    (recorded,) = ConfigChange.objects.all()
    assert recorded.customer_id is None and recorded.what == "number"


# --- debounce --------------------------------------------------------------------------------


def test_nothing_is_due_when_nothing_changed(node):
    assert services.changes_due(node, now=T0) == []


def test_a_change_is_due_only_once_it_is_a_second_old(node, customer):
    c = change(customer, "option", at=T0)
    assert services.changes_due(node, now=T0 + SECOND / 2) == []
    assert services.changes_due(node, now=T0 + SECOND) == [c]


def test_a_burst_of_toggles_waits_for_the_newest_and_is_pushed_as_one_batch(node, customer):
    burst = [change(customer, "option", at=T0 + i * SECOND / 4) for i in range(4)]
    assert services.changes_due(node, now=T0 + SECOND) == []  # newest is 0.25 s old
    due = services.changes_due(node, now=T0 + 2 * SECOND)
    assert due == burst
    assert services.push_commands_for(due).count("xml_flush_cache dialplan") == 1


def test_a_burst_that_never_settles_is_pushed_after_max_wait(node, customer):
    for i in range(50):
        change(customer, "option", at=T0 + i * SECOND / 5)  # one every 0.2 s for 10 s
    now = T0 + 49 * SECOND / 5 + SECOND / 10
    assert len(services.changes_due(node, now=now, max_wait=dt.timedelta(seconds=5))) == 50


def test_a_new_node_starts_with_every_existing_change_applied(db, customer):
    change(customer, "option")
    (fresh,) = services.nodes_sync_from_settings(nodes={"fs9": {"host": "::1", "port": 8021}})
    assert services.changes_due(fresh, now=T0 + 10 * SECOND) == []
    later = change(customer, "employee", at=T0 + SECOND)
    assert services.changes_due(fresh, now=T0 + 10 * SECOND) == [later]


def test_nodes_are_upserted_from_settings_and_removed_ones_are_kept_unconfigured(db):
    services.nodes_sync_from_settings(
        nodes={
            "fs1": {"host": "127.0.0.1", "port": 8021},
            "fs2": {"host": "10.0.0.2", "port": 8021},
        }
    )
    services.nodes_sync_from_settings(nodes={"fs1": {"host": "127.0.0.2", "port": 8022}})
    assert list(Node.objects.values_list("name", "host", "port", "is_configured")) == [
        ("fs1", "127.0.0.2", 8022, True),
        ("fs2", "10.0.0.2", 8021, False),
    ]
    assert NodeSync.objects.count() == 2


# --- commands --------------------------------------------------------------------------------


def test_any_change_flushes_the_dialplan_cache(node, customer):
    assert services.push_commands_for([change(customer, "option")]) == ["xml_flush_cache dialplan"]


def test_an_employee_change_flushes_the_directory_and_reloads_the_queues_agents(node, customer):
    department = multichannel_department(customer)
    assert services.push_commands_for([change(customer, "employee")]) == [
        "xml_flush_cache dialplan",
        "xml_flush_cache directory",
        f"callcenter_config queue reload c{customer.pk}_d{department.pk}@default",
    ]


@pytest.mark.parametrize("what", ["department", "number", "option"])
def test_a_queue_change_reloads_each_multichannel_queue_of_that_customer_only(
    node, customer, other_customer, what
):
    first = multichannel_department(customer)
    second = multichannel_department(customer)
    factories.department(customer)  # no multichannel number: no queue
    multichannel_department(other_customer)
    assert services.push_commands_for([change(customer, what)]) == [
        "xml_flush_cache dialplan",
        f"callcenter_config queue reload c{customer.pk}_d{first.pk}@default",
        f"callcenter_config queue reload c{customer.pk}_d{second.pk}@default",
    ]


def test_with_callback_on_the_twin_queue_without_the_offer_is_reloaded_too(node, customer):
    department = multichannel_department(customer)
    option_set(customer=customer, code="callback", enabled=True)
    queue = f"c{customer.pk}_d{department.pk}"
    assert services.push_commands_for([change(customer, "option")]) == [
        "xml_flush_cache dialplan",
        f"callcenter_config queue reload {queue}@default",
        f"callcenter_config queue reload {queue}_plain@default",
    ]


def test_commands_of_a_batch_are_deduplicated_and_in_a_stable_order(node, customer, other_customer):
    mine = multichannel_department(customer)
    theirs = multichannel_department(other_customer)
    batch = [
        change(other_customer, "number"),
        change(customer, "option"),
        change(customer, "employee"),
        change(customer, "department"),
        change(other_customer, "option"),
    ]
    expected = [
        "xml_flush_cache dialplan",
        "xml_flush_cache directory",
        f"callcenter_config queue reload c{customer.pk}_d{mine.pk}@default",
        f"callcenter_config queue reload c{other_customer.pk}_d{theirs.pk}@default",
    ]
    assert services.push_commands_for(batch) == expected
    assert services.push_commands_for(list(reversed(batch))) == expected


def test_queue_names_follow_the_fixed_naming_and_refuse_anything_else():
    assert services.queue_name(customer_id=3, department_id=14) == "c3_d14@default"
    with pytest.raises(ValueError):
        services._cmd_queue_reload("support@default")
    with pytest.raises(ValueError):
        services._cmd_queue_reload("c1_d2@default\n\napi system")


def test_an_empty_batch_needs_no_command(db):
    assert services.push_commands_for([]) == []


# --- push results ----------------------------------------------------------------------------


def test_a_successful_push_moves_the_applied_generation_and_nothing_is_due(node, customer):
    c = change(customer, "option")
    assert services.push_record_result(node, up_to_change_id=c.pk, ok=True, now=T0 + SECOND)
    assert services.changes_due(node, now=T0 + 10 * SECOND) == []
    sync = NodeSync.objects.get(node=node)
    assert (sync.applied_change_id, sync.applied_at) == (c.pk, T0 + SECOND)


def test_an_older_push_result_cannot_move_the_applied_generation_back(node, customer):
    old, new = change(customer, "option"), change(customer, "number")
    services.push_record_result(node, up_to_change_id=new.pk, ok=True, now=T0 + 2 * SECOND)
    assert not services.push_record_result(
        node, up_to_change_id=old.pk, ok=True, now=T0 + 3 * SECOND
    )
    assert not services.push_record_result(
        node, up_to_change_id=old.pk, ok=False, error="late -ERR", now=T0 + 3 * SECOND
    )
    sync = NodeSync.objects.get(node=node)
    assert (sync.applied_change_id, sync.applied_at, sync.last_error) == (
        new.pk,
        T0 + 2 * SECOND,
        "",
    )


def test_a_failed_push_keeps_the_changes_due_and_a_later_success_clears_the_error(node, customer):
    c = change(customer, "option")
    services.push_record_result(
        node, up_to_change_id=c.pk, ok=False, error="-ERR no reply", now=T0 + SECOND
    )
    assert services.changes_due(node, now=T0 + 2 * SECOND) == [c]
    assert NodeSync.objects.get(node=node).last_error == "-ERR no reply"
    services.push_record_result(node, up_to_change_id=c.pk, ok=True, now=T0 + 3 * SECOND)
    assert NodeSync.objects.get(node=node).last_error == ""


# --- ESL state written by the call-control service -------------------------------------------


def test_esl_state_since_moves_only_when_the_state_changes(node):
    assert services.node_esl_state_set(node=node, state="connected", now=T0)
    assert not services.node_esl_state_set(node=node, state="connected", now=T0 + SECOND)
    node.refresh_from_db()
    assert (node.esl_state, node.esl_state_changed_at) == ("connected", T0)
    services.node_esl_state_set(
        node=node, state="auth_failed", now=T0 + SECOND, error="-ERR invalid"
    )
    node.refresh_from_db()
    assert (node.esl_state, node.esl_state_changed_at, node.last_error) == (
        "auth_failed",
        T0 + SECOND,
        "-ERR invalid",
    )
    with pytest.raises(ValueError):
        services.node_esl_state_set(node=node, state="sleepy", now=T0)


def test_last_event_time_is_written_at_most_every_few_seconds(node):
    services.node_event_seen(node=node, now=T0)
    services.node_event_seen(node=node, now=T0 + SECOND)
    node.refresh_from_db()
    assert node.last_event_at == T0
    services.node_event_seen(node=node, now=T0 + 6 * SECOND)
    node.refresh_from_db()
    assert node.last_event_at == T0 + 6 * SECOND


# --- status rows -----------------------------------------------------------------------------


def rows_by_name():
    return {row.name: row for row in node_status_rows()}


@pytest.mark.django_db
def test_status_rows_tell_applied_pending_error_and_never_connected(
    customer, settings, django_assert_max_num_queries
):
    settings.FREESWITCH_NODES = {
        name: {"host": "127.0.0.1", "port": 8021 + i}
        for i, name in enumerate(["applied", "pending", "failing", "fresh", "unknown"])
    }
    nodes = {
        n.name: n
        for n in services.nodes_sync_from_settings(
            nodes={k: v for k, v in settings.FREESWITCH_NODES.items() if k != "unknown"}
        )
    }
    now = timezone.now()
    c1 = change(customer, "option", at=now - dt.timedelta(minutes=5))
    change(customer, "number", at=now - dt.timedelta(minutes=1))
    for name in ["applied", "pending", "failing"]:
        services.node_esl_state_set(node=nodes[name], state="connected", now=now)
    services.push_record_result(nodes["applied"], up_to_change_id=c1.pk + 1, ok=True, now=now)
    services.push_record_result(nodes["pending"], up_to_change_id=c1.pk, ok=True, now=now)
    services.push_record_result(
        nodes["failing"], up_to_change_id=c1.pk + 1, ok=False, error="-ERR timeout", now=now
    )
    with django_assert_max_num_queries(4):
        rows = rows_by_name()
    assert rows["applied"].sync_state == SyncState.APPLIED
    assert rows["applied"].sync_text.startswith("применено ")
    assert rows["pending"].sync_state == SyncState.PENDING
    assert rows["pending"].pending_count == 1
    assert "1 изменение" in rows["pending"].sync_text
    assert rows["failing"].sync_state == SyncState.ERROR
    assert rows["failing"].sync_text == "-ERR timeout"
    assert rows["fresh"].esl_state == "never"
    assert rows["fresh"].esl_state_label == "ещё не подключался"
    assert rows["unknown"].esl_state == "never" and rows["unknown"].sync_state == SyncState.NEVER
    assert rows["applied"].esl_state == "connected"

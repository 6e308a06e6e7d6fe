"""`manage.py check_switch` and the `check --deploy` checks refuse unsafe FreeSWITCH settings."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from portal.switch import services

STRONG = "k3Jw9-long-random-esl-secret"
LOOPBACK = {"fs1": {"host": "127.0.0.1", "port": 8021}}


@pytest.fixture
def safe(tmp_path):
    """Safe settings with an empty config dir; tests override one thing at a time."""
    with override_settings(
        FREESWITCH_ESL_PASSWORD=STRONG,
        FREESWITCH_XML_CURL_PASSWORD="another-long-secret",
        FREESWITCH_NODES=LOOPBACK,
        FREESWITCH_ESL_ACL_CONFIRMED=False,
        FREESWITCH_CONF_DIR=tmp_path,
    ):
        yield tmp_path


def check_switch() -> str:
    out = StringIO()
    call_command("check_switch", stdout=out)
    return out.getvalue()


def refusal(**overrides) -> str:
    with override_settings(**overrides), pytest.raises(CommandError) as excinfo:
        check_switch()
    return str(excinfo.value)


def test_safe_settings_pass_and_each_node_state_is_printed(db, safe):
    (node,) = services.nodes_sync_from_settings()
    services.node_esl_state_set(node=node, state="connected", now=timezone.now())
    out = check_switch()
    assert "fs1 127.0.0.1:8021" in out
    assert "ESL: connected since" in out
    assert "look safe" in out


def test_a_node_the_service_never_reported_on_is_shown_as_never(db, safe):
    assert "ESL: never" in check_switch()


@pytest.mark.parametrize("password", ["ClueCon", "cluecon", " ClueCon "])
def test_the_stock_cluecon_esl_password_is_refused(db, safe, password):
    assert "ClueCon" in refusal(FREESWITCH_ESL_PASSWORD=password)


def test_an_empty_esl_password_is_refused(db, safe):
    assert "FREESWITCH_ESL_PASSWORD is empty" in refusal(FREESWITCH_ESL_PASSWORD="")


def test_an_empty_xml_curl_password_is_refused(db, safe):
    assert "FREESWITCH_XML_CURL_PASSWORD is empty" in refusal(FREESWITCH_XML_CURL_PASSWORD="")


def test_a_node_off_loopback_is_refused_without_acl_confirmation(db, safe):
    message = refusal(FREESWITCH_NODES={"fs2": {"host": "10.0.0.2", "port": 8021}})
    assert "fs2 (10.0.0.2)" in message and "FREESWITCH_ESL_ACL_CONFIRMED" in message


def test_a_node_off_loopback_passes_once_the_acl_is_confirmed(db, safe):
    with override_settings(
        FREESWITCH_NODES={"fs2": {"host": "fs2.internal", "port": 8021}},
        FREESWITCH_ESL_ACL_CONFIRMED=True,
    ):
        assert "look safe" in check_switch()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost"])
def test_loopback_hosts_need_no_acl_confirmation(db, safe, host):
    with override_settings(FREESWITCH_NODES={"fs1": {"host": host, "port": 8021}}):
        assert "look safe" in check_switch()


def test_default_password_1234_in_the_config_dir_is_refused(db, safe):
    (safe / "vars.xml").write_text(
        '<include>\n  <X-PRE-PROCESS cmd="set" data="default_password=1234"/>\n</include>\n'
    )
    message = refusal()
    assert "default_password=1234" in message and "vars.xml" in message


def test_cluecon_in_event_socket_conf_is_refused(db, safe):
    conf = safe / "autoload_configs"
    conf.mkdir()
    (conf / "event_socket.conf.xml").write_text(
        '<configuration name="event_socket.conf">\n<settings>\n'
        '<param name="password" value="ClueCon"/>\n</settings>\n</configuration>\n'
    )
    assert "ClueCon" in refusal()


def test_demo_secrets_inside_xml_comments_are_not_refused(db, safe):
    (safe / "vars.xml").write_text(
        "<include>\n<!-- never ship default_password=1234 -->\n"
        '<X-PRE-PROCESS cmd="env-set" data="default_password=$FS_DEFAULT_PASSWORD"/>\n</include>\n'
    )
    assert "look safe" in check_switch()


def test_check_deploy_lists_the_freeswitch_problems(db, safe):
    with override_settings(FREESWITCH_ESL_PASSWORD="ClueCon"):
        out, err = StringIO(), StringIO()
        with pytest.raises(Exception, match="freeswitch.E002"):
            call_command("check", deploy=True, tags=["freeswitch"], stdout=out, stderr=err)


def test_plain_check_does_not_run_the_deploy_only_freeswitch_checks(db, safe):
    out = StringIO()
    with override_settings(FREESWITCH_ESL_PASSWORD=""):
        call_command("check", stdout=out)  # a dev machine without secrets still runs
    assert "freeswitch." not in out.getvalue()

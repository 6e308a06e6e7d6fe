"""`check_switch` and `check --deploy` read the FreeSWITCH config a node runs and refuse each
unsafe setting of issue 14 (item 5); the portal refuses to start in production with DEBUG on
or without a secret key of its own."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from portal.switch.checks import conf_problems

REPO_CONF = Path(django_settings.BASE_DIR) / "freeswitch_conf"
SAFE = {
    "FREESWITCH_ESL_PASSWORD": "k3Jw9-long-random-esl-secret",
    "FREESWITCH_XML_CURL_PASSWORD": "another-long-secret",
    "FREESWITCH_NODES": {"fs1": {"host": "127.0.0.1", "port": 8021}},
    "FREESWITCH_ESL_ACL_CONFIRMED": False,
}
ENV_VARS = ("FREESWITCH_ESL_LISTEN_IP", "FREESWITCH_ESL_PASSWORD", "FREESWITCH_ESL_ALLOW_CIDR")


@pytest.fixture
def node_conf(tmp_path, monkeypatch):
    """A copy of the repository's config, as a node would run it; no FreeSWITCH variables in
    the environment."""
    for name in ENV_VARS + ("PBX_TRUNK_CIDR",):
        monkeypatch.delenv(name, raising=False)
    conf = tmp_path / "freeswitch"
    shutil.copytree(REPO_CONF, conf)
    return conf


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def check_switch(*args: str) -> str:
    out = StringIO()
    with override_settings(**SAFE, FREESWITCH_CONF_DIR=Path("/nonexistent")):
        call_command("check_switch", *args, stdout=out)
    return out.getvalue()


def refused(conf: Path) -> str:
    with pytest.raises(CommandError) as excinfo:
        check_switch("--conf-dir", str(conf))
    return str(excinfo.value)


def test_the_repositorys_config_as_shipped_passes(db, node_conf):
    assert conf_problems(node_conf) == []
    assert "look safe" in check_switch("--conf-dir", str(node_conf))


def test_esl_listening_on_every_interface_is_refused(db, node_conf):
    edit(
        node_conf / "autoload_configs/event_socket.conf.xml",
        'value="$${esl_listen_ip}"',
        'value="0.0.0.0"',
    )
    assert "freeswitch.E006" in refused(node_conf)


def test_esl_listen_ip_0000_set_in_vars_xml_is_refused(db, node_conf):
    edit(node_conf / "vars.xml", "esl_listen_ip=127.0.0.1", "esl_listen_ip=0.0.0.0")
    assert "freeswitch.E006" in refused(node_conf)


def test_esl_listen_ip_from_the_nodes_environment_is_read(db, node_conf, monkeypatch):
    monkeypatch.setenv("FREESWITCH_ESL_LISTEN_IP", "::")
    assert "freeswitch.E006" in refused(node_conf)


@pytest.mark.parametrize(
    "old, new",
    [
        (  # the stock password set in vars.xml instead of the random one
            '<X-PRE-PROCESS cmd="env-set" data="esl_password=$FREESWITCH_ESL_PASSWORD"/>',
            '<X-PRE-PROCESS cmd="set" data="esl_password=ClueCon"/>',
        ),
        (
            '<X-PRE-PROCESS cmd="env-set" data="esl_password=$FREESWITCH_ESL_PASSWORD"/>',
            '<X-PRE-PROCESS cmd="set" data="esl_password=1234"/>',
        ),
    ],
)
def test_a_stock_esl_password_in_vars_xml_is_refused(db, node_conf, old, new):
    edit(node_conf / "vars.xml", old, new)
    assert "freeswitch.E007" in refused(node_conf)


@pytest.mark.parametrize("value", ["'ClueCon'", "'1234'", '"1234"', '" ClueCon "'])
def test_a_stock_esl_password_in_event_socket_conf_is_refused_in_any_quotes(db, node_conf, value):
    edit(
        node_conf / "autoload_configs/event_socket.conf.xml",
        'name="password" value="$${esl_password}"',
        f'name="password" value={value}',
    )
    assert "freeswitch.E007" in refused(node_conf)


def test_a_weak_esl_password_from_the_environment_is_refused(db, node_conf, monkeypatch):
    monkeypatch.setenv("FREESWITCH_ESL_PASSWORD", "1234")
    assert "freeswitch.E007" in refused(node_conf)


def test_esl_without_an_inbound_acl_is_refused(db, node_conf):
    edit(
        node_conf / "autoload_configs/event_socket.conf.xml",
        '<param name="apply-inbound-acl" value="esl"/>',
        "",
    )
    assert "freeswitch.E008" in refused(node_conf)


@pytest.mark.parametrize(
    "file, old, new",
    [
        ("autoload_configs/acl.conf.xml", 'cidr="$${esl_allow_cidr}"', 'cidr="0.0.0.0/0"'),
        ("vars.xml", "esl_allow_cidr=127.0.0.1/32", "esl_allow_cidr=0.0.0.0/0"),
        (
            "autoload_configs/acl.conf.xml",
            '<list name="esl" default="deny">',
            '<list name="esl" default="allow">',
        ),
    ],
)
def test_an_esl_acl_open_to_everyone_is_refused(db, node_conf, file, old, new):
    edit(node_conf / file, old, new)
    assert "freeswitch.E009" in refused(node_conf)


def test_an_esl_acl_from_the_environment_open_to_everyone_is_refused(db, node_conf, monkeypatch):
    monkeypatch.setenv("FREESWITCH_ESL_ALLOW_CIDR", "0.0.0.0/0")
    assert "freeswitch.E009" in refused(node_conf)


def test_a_trunk_acl_open_to_everyone_is_refused(db, node_conf):
    edit(node_conf / "vars.xml", "pbx_trunk_cidr=127.0.0.1/32", "pbx_trunk_cidr=0.0.0.0/0")
    assert "freeswitch.E009" in refused(node_conf)


@pytest.mark.parametrize("password", ["1234", "short", "password"])
def test_a_weak_esl_password_setting_is_refused(db, password):
    with override_settings(**{**SAFE, "FREESWITCH_ESL_PASSWORD": password}):
        with pytest.raises(CommandError, match="freeswitch.E002"):
            call_command("check_switch", stdout=StringIO())


def test_a_blank_xml_curl_password_is_refused(db):
    with override_settings(**{**SAFE, "FREESWITCH_XML_CURL_PASSWORD": " "}):
        with pytest.raises(CommandError, match="freeswitch.E004"):
            call_command("check_switch", stdout=StringIO())


def test_a_blank_cdr_password_disables_cdr_intake(client, settings):
    settings.FREESWITCH_CDR_PASSWORD = " "
    auth = "Basic " + __import__("base64").b64encode(b"freeswitch: ").decode()
    response = client.post(
        "/freeswitch/cdr/", data=b"{}", content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code == 403


# -- the portal itself ----------------------------------------------------------------------


def deploy_check_ids() -> str:
    out, err = StringIO(), StringIO()
    try:
        call_command("check", deploy=True, tags=["security"], stdout=out, stderr=err)
    except Exception as exc:  # SystemCheckError lists the errors
        return str(exc)
    return out.getvalue() + err.getvalue()


def test_check_deploy_refuses_debug_and_a_missing_secret_key_as_errors(monkeypatch, settings):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    settings.DEBUG = True
    found = deploy_check_ids()
    assert "portal.E001" in found and "portal.E002" in found


def test_check_deploy_passes_the_portal_checks_with_a_secret_key_and_no_debug(
    monkeypatch, settings
):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret-key-0123456789")
    settings.DEBUG = False
    found = deploy_check_ids()
    assert "portal.E001" not in found and "portal.E002" not in found


@pytest.mark.parametrize("debug, key", [(True, "a-long-random-key-0123456789abcdef"), (False, "")])
def test_serve_refuses_to_start_in_production_with_debug_or_without_a_secret_key(
    monkeypatch, settings, debug, key
):
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    if key:
        monkeypatch.setenv("SECRET_KEY", key)
    else:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    settings.DEBUG = debug
    with pytest.raises(CommandError, match="Refusing to start in production"):
        call_command("serve", "--no-prompts", stdout=StringIO())

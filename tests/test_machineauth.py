"""The two endpoints FreeSWITCH calls (mod_xml_curl, mod_json_cdr) share one basic-auth check
(pbx/machineauth.py): the same header gets the same verdict on both."""

from __future__ import annotations

import base64

import pytest

from pbx.machineauth import basic_auth_ok, credentials

USER, PASSWORD = "freeswitch", "s3cret-äö"


def basic(user: str, password: str, encoding: str = "utf-8") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode()


def test_the_exact_pair_passes():
    assert basic_auth_ok(basic(USER, PASSWORD), USER, PASSWORD)
    assert basic_auth_ok("basic " + basic(USER, PASSWORD)[6:], USER, PASSWORD)  # scheme: any case
    assert credentials(basic(USER, "a:b")) == (USER, "a:b")  # a colon in the password


HOSTILE = [
    "",
    "Basic",
    "Basic ",
    "Basic !!!notbase64",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
    basic(USER, PASSWORD, "latin-1"),  # the right password, wrongly encoded
    basic(USER, PASSWORD.upper()),
    basic(USER.upper(), PASSWORD),
    basic(USER, PASSWORD + " "),
    basic("", ""),
    "Bearer " + PASSWORD,
    "Digest " + basic(USER, PASSWORD)[6:],
]


@pytest.mark.parametrize("header", HOSTILE)
def test_anything_else_is_refused(header):
    assert not basic_auth_ok(header, USER, PASSWORD)


@pytest.mark.parametrize("blank", ["", " ", "\t "])
def test_a_blank_configured_password_never_matches(blank):
    assert not basic_auth_ok(basic(USER, blank), USER, blank)


@pytest.fixture
def endpoints(settings):
    settings.FREESWITCH_XML_CURL_USER = settings.FREESWITCH_CDR_USER = USER
    settings.FREESWITCH_XML_CURL_PASSWORD = settings.FREESWITCH_CDR_PASSWORD = PASSWORD
    return ["/freeswitch/xml/", "/freeswitch/cdr/"]


@pytest.mark.django_db
@pytest.mark.parametrize("header", HOSTILE)
def test_both_endpoints_refuse_the_same_headers(client, endpoints, header):
    for url in endpoints:
        response = client.post(
            url, data=b"{}", content_type="application/json", HTTP_AUTHORIZATION=header
        )
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"].startswith("Basic realm="), url


@pytest.mark.django_db
def test_both_endpoints_are_disabled_alike_without_a_password(client, endpoints, settings):
    settings.FREESWITCH_XML_CURL_PASSWORD = settings.FREESWITCH_CDR_PASSWORD = "  "
    for url in endpoints:
        response = client.post(
            url, data=b"{}", content_type="application/json", HTTP_AUTHORIZATION=basic(USER, "  ")
        )
        assert response.status_code == 403, url

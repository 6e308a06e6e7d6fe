"""Safe building blocks for the XML that mod_xml_curl hands to FreeSWITCH.

Three layers of interpretation stand between a string we render and FreeSWITCH's behaviour,
and each has its own dangerous characters:

1. XML itself (`<`, `&`, `"`, CR/LF in attributes): every document is built with ElementTree,
   which escapes text and attribute values on serialisation.
2. The config preprocessor. mod_xml_curl saves the answer to a file and parses it with
   `switch_xml_parse_file()`, which runs the same preprocessor as the files in /etc/freeswitch,
   line by line: `$${name}` is replaced by a global variable (`$${esl_password}` would leak the
   ESL password into a caller-ID name), any line containing `<include>`, `</include>` or `<?` is
   dropped, and any line containing `X-PRE-PROCESS` (any case) not preceded by `<` is dropped
   too. Escaping does not help against `$${` or the `X-PRE-PROCESS` text: they must not be in
   the text at all.
3. Run-time expansion: FreeSWITCH expands `${var}` and `${api(args)}` in application data and in
   many variables when a call runs.

So user-supplied strings never go anywhere except through the functions here:
`sip_display_name()` (the only place a person's name is used: a caller-ID name) keeps letters,
digits, space and `.-_` only; `fs_safe_secret()` accepts SIP passwords from a conservative
character set or refuses them. Numbers reach the XML only after E.164 validation and ids only
as integers. Our own fixed references (`${uuid}`, `$${pbx_recordings_dir}`) are literals in the
renderer, never built from data.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET

NOT_FOUND = (
    '<document type="freeswitch/xml">\n'
    '  <section name="result">\n'
    '    <result status="not found"/>\n'
    "  </section>\n"
    "</document>\n"
)

NAME_MAX = 40
_NAME_PUNCT = frozenset(" .-_")
_PREPROCESSOR_WORD = re.compile(r"x\W*-?\W*pre\W*-?\W*process", re.IGNORECASE)
_SECRET = re.compile(r"[A-Za-z0-9._~+/=:@!%*#-]{8,128}\Z")
_ID = re.compile(r"[1-9][0-9]{0,17}\Z")

#: The only `$`-references a rendered document may contain: our own, written as literals in the
#: renderer. `$${...}` are globals from freeswitch_conf/vars.xml (expanded when the answer is
#: parsed); `${...}` are channel variables expanded when the call runs.
DIAL_STRING = (
    "{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@${dialed_domain}}"
    "${sofia_contact(*/${dialed_user}@${dialed_domain})}"
)
OWN_REFERENCES = (
    DIAL_STRING,
    "$${pbx_recordings_dir}",
    "$${pbx_sounds_dir}",
    "$${pbx_hold_music}",
    "$${pbx_unavailable_prompt}",
    "$${pbx_unavailable_playback}",
    "$${pbx_unavailable_tone}",
    "${uuid}",
    "${cc_exit_key}",
    "${outbound_caller_id_number}",
    "${pbx_recording}",
    "${pbx_employee}",  # the caller's employee id (directory), in the per-phone call limit
    "${toll_allow}",  # the caller's opt-in destination classes (directory)
    "${originate_disposition}",  # why the last bridge failed (call forwarding on busy/...)
)


class RenderError(ValueError):
    """Data that cannot be put into FreeSWITCH XML safely (the caller logs and skips it)."""


def sip_display_name(value: object, *, max_len: int = NAME_MAX) -> str:
    """A person's name reduced to what a caller-ID name may carry.

    Letters and digits of any alphabet, space and `.-_`; runs of spaces collapse; at most
    `max_len` characters; the preprocessor keyword removed. Never contains `$ { } < > & " '`,
    CR/LF or control characters, so it is inert in XML, in the preprocessor and at run time.
    """
    text = unicodedata.normalize("NFC", str(value or ""))
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or ch in _NAME_PUNCT:
            kept.append(ch)
        elif cat[0] == "Z" or ch in "\t\r\n":
            kept.append(" ")
    cleaned = " ".join("".join(kept).split())
    previous = None
    while previous != cleaned:  # removing one occurrence could join two halves into another
        previous = cleaned
        cleaned = _PREPROCESSOR_WORD.sub("", cleaned)
    return " ".join(cleaned.split())[:max_len].strip()


def fs_safe_secret(value: object) -> str:
    """A SIP password as it may appear in a directory `<param>`, or RenderError."""
    text = str(value or "")
    if not _SECRET.match(text) or _PREPROCESSOR_WORD.search(text):
        raise RenderError("secret has characters FreeSWITCH would interpret")
    return text


def db_id(value: object) -> str:
    """A database id as text; anything but a positive integer is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RenderError(f"not an id: {value!r}")
    text = str(value)
    if not _ID.match(text):
        raise RenderError(f"not an id: {value!r}")
    return text


def document(section: str) -> tuple[ET.Element, ET.Element]:
    """A `<document type="freeswitch/xml">` root and its `<section name=...>`."""
    root = ET.Element("document", {"type": "freeswitch/xml"})
    return root, ET.SubElement(root, "section", {"name": section})


def sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    """A child element; attribute names use `_` for `-` (`max_no_answer` -> `max-no-answer`)."""
    return ET.SubElement(parent, tag, {k.replace("_", "-"): str(v) for k, v in attrs.items()})


def param(parent: ET.Element, name: str, value: object) -> ET.Element:
    return ET.SubElement(parent, "param", {"name": name, "value": str(value)})


def variable(parent: ET.Element, name: str, value: object) -> ET.Element:
    return ET.SubElement(parent, "variable", {"name": name, "value": str(value)})


def action(parent: ET.Element, application: str, data: str = "", *, anti: bool = False):
    attrs = {"application": application}
    if data:
        attrs["data"] = data
    return ET.SubElement(parent, "anti-action" if anti else "action", attrs)


def serialise(root: ET.Element) -> str:
    """One element per line (so the preprocessor's line rules can only ever touch one element),
    no XML declaration (the preprocessor would drop that line anyway)."""
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    # Belt and braces: the builders above never let these through; if one ever did, refuse to
    # hand FreeSWITCH a document it would read differently from what we meant.
    if "$" in without_own_references(text) or "<?" in text or _PREPROCESSOR_WORD.search(text):
        raise RenderError("rendered XML contains preprocessor or expansion syntax")
    return text + "\n"


def without_own_references(text: str) -> str:
    """`text` with our own fixed `$`-references and regex end anchors removed: what is left must
    hold no `$` at all."""
    for ref in OWN_REFERENCES:
        text = text.replace(ref, "")
    return text.replace('$"', '"')  # the end anchor of a dialplan regex, `expression="^101$"`

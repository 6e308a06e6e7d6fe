"""The missed-call SMS to a shopper, per customer language (no gettext: the shopper is not a
portal user, the text follows the customer's `language`, like the voice prompts).

Each template is (title, body): the SMS transport sends "<title>. <body>".
"""

from __future__ import annotations

from portal.directory.phone import display

FALLBACK = "ru"

TEMPLATES: dict[str, tuple[str, str]] = {
    "cs": (
        "Zmeškaný hovor č. {sequence} z čísla {dealer} (volal na {fictive})",
        "Zavolejte zpět přes {return_number}, při výzvě zadejte {sequence} a #",
    ),
    "ru": (
        "Пропущенный вызов № {sequence} с номера {dealer} (на номер {fictive})",
        "Перезвоните через {return_number}, по запросу введите {sequence} и #",
    ),
    "en": (
        "Missed call no. {sequence} from {dealer} (to {fictive})",
        "Call back via {return_number}; when asked, enter {sequence} and #",
    ),
    "kk": (
        "№ {sequence} қабылданбаған қоңырау, нөмірі {dealer} ({fictive} нөміріне)",
        "{return_number} арқылы қайта қоңырау шалыңыз, сұралса {sequence} және # теріңіз",
    ),
    "bg": (
        "Пропуснато обаждане № {sequence} от {dealer} (към {fictive})",
        "Обадете се обратно на {return_number}, при запитване въведете {sequence} и #",
    ),
}


def missed_call_text(
    *, language: str, sequence: int, dealer: str, fictive: str, return_number: str
) -> tuple[str, str]:
    """(title, body) of the SMS in `language` (Russian for a language without a template)."""
    title, body = TEMPLATES.get(language) or TEMPLATES[FALLBACK]
    values = {
        "sequence": sequence,
        "dealer": display(dealer),
        "fictive": display(fictive),
        "return_number": display(return_number),
    }
    return title.format(**values), body.format(**values)


def full_text(title: str, body: str) -> str:
    """What the shopper's phone shows (the SMS transport's joining of title and body)."""
    return f"{title}. {body}".strip(". ")

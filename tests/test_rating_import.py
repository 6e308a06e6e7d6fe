"""Rate decks from CSV: a clear error per line, nothing half-imported."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from portal.billing.models import Rate, RateDeck, Tariff
from portal.billing.ratedeck import RateDeckImportError, rate_deck_import

HEADER = "prefix;destination;minute_price;increment;min_duration;connection_fee;included;valid_from;valid_to\n"


@pytest.fixture
def deck(db):
    from portal.billing import catalog

    catalog.ensure()
    return RateDeck.objects.create(tariff=Tariff.objects.get(name="Средний"), name="Средний")


def test_a_good_file_imports_every_line(deck):
    data = HEADER + (
        "+7;Россия;1,50;60/60;;;1;2026-10-01;\n"
        "7495;Москва;0.9500;1/1;3;0.10;да;2026-10-01;2026-11-01\n"
        "7495;Москва;1.05;30/6;0;0;0;2026-11-01;\n"
        "\n"
        "44;Великобритания;7;60/60;0;0;no;;\n"
    )
    result = rate_deck_import(deck=deck, data=("\ufeff" + data).encode())
    assert result.created == 4
    moscow = Rate.objects.filter(deck=deck, prefix="7495").order_by("valid_from")
    assert [(r.minute_price, r.first_increment, r.next_increment) for r in moscow] == [
        (Decimal("0.9500"), 1, 1),
        (Decimal("1.0500"), 30, 6),
    ]
    assert Rate.objects.get(deck=deck, prefix="7").included is True


def test_a_bad_file_names_every_bad_line_and_imports_nothing(deck):
    data = HEADER + (
        "7;Россия;1.50;60/60;0;0;1;2026-10-01;\n"  # line 2: fine
        "+0495;Москва;1;60/60;0;0;0;2026-10-01;\n"  # 3: bad prefix
        "7abc;?;1;60/60;0;0;0;2026-10-01;\n"  # 4: bad prefix
        "7812;СПб;-0.50;60/60;0;0;0;2026-10-01;\n"  # 5: negative price
        "7343;Екб;1;60/0;0;-1;0;2026-10-01;\n"  # 6: bad increment, negative fee
        "7;Россия;1.40;60/60;0;0;1;2026-10-15;\n"  # 7: overlaps line 2
        "7383;Нск;1;60/60;0;0;maybe;2026-13-01;\n"  # 8: bad flag, bad date
    )
    with pytest.raises(RateDeckImportError) as caught:
        rate_deck_import(deck=deck, data=data)
    errors = caught.value.errors
    lines = sorted({line for line, _message in errors})
    assert lines == [3, 4, 5, 6, 7, 8]
    text = "\n".join(f"{line}: {message}" for line, message in errors)
    assert "3: префикс «+0495»" in text
    assert "5: цена минуты не может быть отрицательной: -0.50" in text
    assert "6: интервал «60/0»" in text
    assert "6: плата за соединение не может быть отрицательной" in text
    assert "7: префикс 7 пересекается по датам со строкой 2" in text
    assert "8: дата начала «2026-13-01»" in text
    assert not Rate.objects.exists()


def test_a_rate_overlapping_one_already_in_the_deck_is_refused(deck):
    rate_deck_import(deck=deck, data=HEADER + "7495;Москва;1;60/60;0;0;0;2026-10-01;\n")
    with pytest.raises(RateDeckImportError) as caught:
        rate_deck_import(
            deck=deck,
            data=HEADER
            + "7812;СПб;1;60/60;0;0;0;2026-10-01;\n7495;Москва;2;60/60;0;0;0;2027-01-01;\n",
        )
    assert caught.value.errors == [
        (3, "префикс 7495 пересекается по датам со ставкой, уже действующей в сетке")
    ]
    assert Rate.objects.filter(deck=deck).count() == 1  # 7812 was not imported either


def test_a_file_without_the_needed_columns_is_refused(deck):
    with pytest.raises(RateDeckImportError) as caught:
        rate_deck_import(deck=deck, data="code,price\n7,1\n")
    assert caught.value.errors[0][0] == 1
    assert "prefix" in caught.value.errors[0][1] and "minute_price" in caught.value.errors[0][1]


def test_the_import_command_prints_the_errors_and_fails(deck, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "7;Россия;-1;60/60;0;0;0;;\n", encoding="utf-8")
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("ratedeck_import", "--tariff", "Средний", str(bad))
    assert "line 2:" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "7;Россия;1;60/60;0;0;0;;\n", encoding="utf-8")
    call_command("ratedeck_import", "--tariff", "Средний", str(good))
    assert Rate.objects.filter(deck=deck).count() == 1


# --- the platform's page ---------------------------------------------------------------------


def test_platform_staff_upload_a_deck_and_see_every_bad_line(db):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from tests import factories

    factories.customer()  # loads the catalog
    staff = Client()
    staff.force_login(factories.user(None, is_staff=True))
    tariff = Tariff.objects.get(name="Базовый")
    bad = HEADER + "7;Россия;1;60/60;0;0;0;;\n7;Россия;-2;60/60;0;0;0;;\n"
    response = staff.post(
        "/platform/billing/ratedecks/",
        {"tariff": tariff.pk, "file": SimpleUploadedFile("r.csv", bad.encode())},
    )
    assert response.status_code == 400
    assert "строка 3: цена минуты не может быть отрицательной: -2" in response.content.decode()
    assert not Rate.objects.exists()
    good = HEADER + "7;Россия;1;60/60;0;0;0;;\n"
    response = staff.post(
        "/platform/billing/ratedecks/",
        {"tariff": tariff.pk, "file": SimpleUploadedFile("r.csv", good.encode())},
    )
    assert response.status_code == 302
    assert Rate.objects.filter(deck__tariff=tariff).count() == 1
    assert 'data-col="rates">1<' in staff.get("/platform/billing/ratedecks/").content.decode()


def test_the_deck_page_is_for_platform_staff_only(db):
    from django.test import Client

    from tests import factories

    customer_admin = Client()
    customer_admin.force_login(factories.user(factories.customer()))
    assert customer_admin.get("/platform/billing/ratedecks/").status_code == 403
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(factories.user(None, is_staff=True))
    assert csrf.post("/platform/billing/ratedecks/", {}).status_code == 403

from decimal import Decimal

from django.db import migrations


def load_catalog(apps, schema_editor):
    from portal.billing.catalog import OPTIONS, TARIFFS

    Tariff = apps.get_model("billing", "Tariff")
    Option = apps.get_model("billing", "Option")
    for row in TARIFFS:
        Tariff.objects.update_or_create(name=row["name"], defaults=row)
    for order, (code, name_ru, name_en, price, desc_ru, desc_en) in enumerate(OPTIONS):
        Option.objects.update_or_create(
            code=code,
            defaults={
                "name_ru": name_ru,
                "name_en": name_en,
                "monthly_price": Decimal(price),
                "description_ru": desc_ru,
                "description_en": desc_en,
                "sort_order": (order + 1) * 10,
            },
        )


def schedule_accrual(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="billing.accrue_day",
        defaults={
            "func": "portal.billing.services.accrue_day",
            "schedule_type": "D",
            "repeats": -1,
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [
        migrations.RunPython(load_catalog, migrations.RunPython.noop),
        migrations.RunPython(schedule_accrual, migrations.RunPython.noop),
    ]

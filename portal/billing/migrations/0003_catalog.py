from django.db import migrations


def load_catalog(apps, schema_editor):
    from portal.billing.catalog import load

    load(apps.get_model("billing", "Tariff"), apps.get_model("billing", "Option"))


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

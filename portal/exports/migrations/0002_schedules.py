from django.db import migrations

SCHEDULES = {
    "exports.expire": ("portal.exports.services.exports_expire", "H"),  # hourly
    "exports.documents_issue": (
        "portal.exports.documents.documents_issue_previous_month",
        "D",  # daily: issues the previous month's documents once, then finds them issued
    ),
}


def schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, (func, kind) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": kind, "repeats": -1}
        )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]

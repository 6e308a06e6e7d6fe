from django.db import migrations


def schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="calls.recordings_measure",
        defaults={
            "func": "portal.calls.recordings.recordings_measure",
            "schedule_type": "I",
            "minutes": 5,
            "repeats": -1,
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0003_callrecord"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule, migrations.RunPython.noop)]

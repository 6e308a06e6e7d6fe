"""ActiveCall moved to portal.switch (pbx has no models): the table stays, only Django's state
moves (portal/switch/migrations/0002_activecall.py takes it over)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pbx", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ActiveCall")],
            database_operations=[],
        )
    ]

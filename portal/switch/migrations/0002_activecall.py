"""ActiveCall comes from pbx (which has no models now): the table `pbx_activecall` exists
already (pbx 0001), so only Django's state is created here."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("switch", "0001_initial"),
        ("pbx", "0002_activecall_moved_to_switch"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ActiveCall",
                    fields=[
                        ("uuid", models.UUIDField(primary_key=True, serialize=False)),
                        ("node", models.CharField(db_index=True, max_length=64)),
                        ("flow", models.CharField(blank=True, max_length=64)),
                        ("variables", models.JSONField(default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={"db_table": "pbx_activecall"},
                )
            ],
            database_operations=[],
        )
    ]

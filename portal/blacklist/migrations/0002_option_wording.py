from django.db import migrations


def wording(apps, schema_editor):
    """The tariff page's wording of the blacklist and CRM options (portal.billing.catalog)."""
    from portal.billing.catalog import OPTIONS

    Option = apps.get_model("billing", "Option")
    for code, _name_ru, _name_en, _price, desc_ru, desc_en in OPTIONS:
        if code in ("blacklist", "crm"):
            Option.objects.filter(code=code).update(description_ru=desc_ru, description_en=desc_en)


class Migration(migrations.Migration):
    dependencies = [("blacklist", "0001_initial"), ("billing", "0008_rate_decks")]

    operations = [migrations.RunPython(wording, migrations.RunPython.noop)]

from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "portal.crm"
    label = "crm"
    verbose_name = "CRM card"

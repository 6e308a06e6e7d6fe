from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "portal.web"
    label = "web"

    def ready(self) -> None:
        # The admin's login is a staff login too: same throttle, lockout and audit.
        from django.contrib import admin

        from portal.web import checks  # noqa: F401  (registers the production deploy checks)
        from portal.web.login import ThrottledAdminAuthenticationForm

        admin.site.login_form = ThrottledAdminAuthenticationForm

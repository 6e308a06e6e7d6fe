from django.contrib import admin
from django.urls import include, path

from portal.redial import views as redial_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("freeswitch/cdr/", include("portal.calls.urls")),
    path("freeswitch/", include("pbx.urls")),
    path("platform/", include("portal.switch.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("pbx/prompts/", include("portal.prompts.urls")),
    path("pbx/callbacks/", include("portal.callbacks.urls")),
    path("pbx/fictive/", include("portal.fictive.urls")),
    path("pbx/redial/", include("portal.redial.urls")),
    path("redial/push/<str:token>/", redial_views.push, name="redial_push"),
    path("notifications/", include("portal.notifications.urls")),
    path("", include("portal.web.urls")),
]

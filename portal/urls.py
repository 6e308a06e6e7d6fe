from django.contrib import admin
from django.urls import include, path

from portal.integrated import views as integrated_views
from portal.redial import views as redial_views
from portal.video import views as video_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("freeswitch/cdr/", include("portal.calls.urls")),
    path("freeswitch/", include("pbx.urls")),
    path("platform/", include("portal.switch.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("pbx/prompts/", include("portal.prompts.urls")),
    path("pbx/api-tokens/", include("portal.api.page_urls")),
    path("pbx/callbacks/", include("portal.callbacks.urls")),
    path("pbx/fictive/", include("portal.fictive.urls")),
    path("pbx/redial/", include("portal.redial.urls")),
    path("pbx/blacklist/", include("portal.blacklist.urls")),
    path("pbx/crm/", include("portal.crm.urls")),
    path("pbx/voicemail/", include("portal.voicemail.urls")),
    path("pbx/forwarding/", include("portal.forwarding.urls")),
    path("pbx/menus/", include("portal.menus.urls")),
    path("pbx/hold-music/", include("portal.moh.urls")),
    path("pbx/conference/", include("portal.conference.urls")),
    path("redial/push/<str:token>/", redial_views.push, name="redial_push"),
    path("pbx/video/", include("portal.video.urls")),
    path("v/<str:token>/", video_views.join, name="video_join"),
    path("v/<str:token>/location/", video_views.location, name="video_location"),
    path("v/<str:token>/messages/", video_views.client_messages, name="video_client_messages"),
    path("video/photos/<int:pk>.jpg", video_views.photo, name="video_photo"),
    path("t/<str:token>/", integrated_views.trusted, name="integrated_trusted"),
    path("integrated/photos/<int:pk>.jpg", integrated_views.photo, name="integrated_photo"),
    path("", include("portal.integrated.urls")),
    path("notifications/", include("portal.notifications.urls")),
    path("", include("portal.exports.urls")),
    path("", include("portal.statistics.urls")),
    path("", include("portal.calls.page_urls")),
    path("", include("portal.web.urls")),
]

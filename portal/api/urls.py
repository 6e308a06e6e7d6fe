from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from portal.api import views
from portal.blacklist.api import (
    BlacklistEntryViewSet,
    BlacklistSettingsView,
    RejectedCallViewSet,
)
from portal.callbacks.api import CallbackRequestViewSet
from portal.conference.api import ParticipantViewSet, RoomViewSet
from portal.crm.api import CrmCallViewSet
from portal.fictive.api import FictiveCallViewSet
from portal.forwarding.api import ForwardingRuleViewSet
from portal.menus.api import MenuViewSet, NumberRouteViewSet, ScheduleViewSet
from portal.moh.api import HoldMusicViewSet
from portal.voicemail.api import MailboxViewSet, MessageViewSet

app_name = "api"

router = DefaultRouter()
router.register("departments", views.DepartmentViewSet, basename="department")
router.register("employees", views.EmployeeViewSet, basename="employee")
router.register("numbers", views.NumberViewSet, basename="number")
router.register("platform/numbers", views.PlatformNumberViewSet, basename="platform-number")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("callbacks", CallbackRequestViewSet, basename="callback")
router.register("fictive-calls", FictiveCallViewSet, basename="fictive-call")
router.register("menus", MenuViewSet, basename="menu")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("menu-routes", NumberRouteViewSet, basename="menu-route")
router.register("voicemail-boxes", MailboxViewSet, basename="voicemail-box")
router.register("voicemail-messages", MessageViewSet, basename="voicemail-message")
router.register("forwarding-rules", ForwardingRuleViewSet, basename="forwarding-rule")
router.register("blacklist/entries", BlacklistEntryViewSet, basename="blacklist-entry")
router.register("blacklist/rejected", RejectedCallViewSet, basename="blacklist-rejected")
router.register("crm/calls", CrmCallViewSet, basename="crm-call")
router.register("hold-music", HoldMusicViewSet, basename="hold-music")
router.register("conference-rooms", RoomViewSet, basename="conference-room")
router.register("conference-members", ParticipantViewSet, basename="conference-member")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("options/", views.OptionListView.as_view(), name="option-list"),
    path("options/<slug:code>/", views.OptionToggleView.as_view(), name="option-detail"),
    path("ledger/", views.LedgerView.as_view(), name="ledger"),
    path("balance/", views.BalanceView.as_view(), name="balance"),
    path("blacklist/settings/", BlacklistSettingsView.as_view(), name="blacklist-settings"),
    *router.urls,
]

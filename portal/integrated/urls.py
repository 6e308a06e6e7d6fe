from django.urls import path

from portal.integrated import views

app_name = "integrated"

urlpatterns = [
    # the caller (mobile pages)
    path("c/login/", views.login, name="login"),
    path("c/logout/", views.logout, name="logout"),
    path("c/calls/", views.calls, name="calls"),
    path("c/calls/<int:pk>/", views.call_chat, name="chat"),
    path("c/calls/<int:pk>/messages/", views.caller_messages, name="messages"),
    path("c/profile/", views.profile, name="profile"),
    path("c/profile/location/", views.location, name="location"),
    path("api/integrated/lookup/", views.lookup, name="lookup"),
    # the operator and the service
    path("pbx/integrated/", views.index, name="index"),
    path("pbx/integrated/alerts/", views.operator_alerts, name="operator_alerts"),
    path("pbx/integrated/calls/<int:pk>/", views.operator_call, name="operator_call"),
    path("pbx/integrated/calls/<int:pk>/enable/", views.enable_chat, name="enable_chat"),
    path(
        "pbx/integrated/calls/<int:pk>/messages/",
        views.operator_messages,
        name="operator_messages",
    ),
]

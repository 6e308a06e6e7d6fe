from django.urls import path

from portal.video import views

app_name = "video"

urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.console, name="console"),
    path("<int:pk>/messages/", views.messages, name="messages"),
    path("<int:pk>/link/", views.link_renew, name="link_renew"),
]

from django.urls import path

from portal.redial import views

app_name = "redial"

urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.detail, name="detail"),
    path("phones/<int:pk>/", views.subscriber, name="subscriber"),
]

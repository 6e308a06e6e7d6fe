from django.urls import path

from portal.conference import views

app_name = "conference"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.edit, name="new"),
    path("<int:pk>/", views.edit, name="edit"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("members/<int:pk>/<str:action>/", views.member_action, name="member_action"),
]

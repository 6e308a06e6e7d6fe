from django.urls import path

from portal.blacklist import views

app_name = "blacklist"

urlpatterns = [
    path("", views.index, name="index"),
    path("settings/", views.settings_save, name="settings"),
    path("entries/", views.entry_add, name="add"),
    path("entries/<int:pk>/delete/", views.entry_delete, name="delete"),
    path("entries/import/", views.entries_import, name="import"),
    path("from-call/<int:pk>/", views.from_call, name="from_call"),
]

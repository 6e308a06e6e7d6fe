from django.urls import path

from portal.menus import views

app_name = "menus"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/save/", views.save, name="save"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/prompts/<slug:kind>/<slug:language>/", views.prompt, name="prompt"),
    path(
        "<int:pk>/prompts/<slug:kind>/<slug:language>.wav",
        views.prompt_audio,
        name="prompt_audio",
    ),
    path("<int:pk>/test/", views.simulator, name="simulator"),
    path("<int:pk>/test/step/", views.simulate, name="simulate"),
    path("schedules/new/", views.schedule_create, name="schedule_create"),
    path("schedules/<int:pk>/", views.schedule, name="schedule"),
    path("schedules/<int:pk>/delete/", views.schedule_delete, name="schedule_delete"),
    path("numbers/<int:pk>/", views.number_route, name="number_route"),
]

from django.urls import path

from portal.voicemail import views

app_name = "voicemail"

urlpatterns = [
    path("", views.index, name="index"),
    path("boxes/<int:pk>/", views.box, name="box"),
    path("boxes/<int:pk>/greeting/", views.greeting, name="greeting"),
    path("boxes/<int:pk>/greeting.wav", views.greeting_audio, name="greeting_audio"),
    path("boxes/<int:pk>/delete/", views.box_delete, name="box_delete"),
    path("messages/<int:pk>.wav", views.message_audio, name="message_audio"),
    path("messages/<int:pk>/heard/", views.message_heard, name="message_heard"),
    path("messages/<int:pk>/delete/", views.message_delete, name="message_delete"),
]

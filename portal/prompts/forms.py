from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.prompts import services


class PromptUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Файл WAV"),
        widget=forms.ClearableFileInput(attrs={"accept": ".wav,audio/wav,audio/x-wav"}),
        error_messages={
            "required": _("Выберите файл WAV."),
            "empty": _("Файл пустой."),
            "invalid": _("Выберите файл WAV."),
        },
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        self.data_bytes, self.info = services.validate_upload(upload)
        return upload

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.directory.models import Department, Employee
from portal.voicemail.models import Mailbox, pin_validator


class MailboxForm(forms.ModelForm):
    pin = forms.CharField(
        label=_("PIN для доступа с телефона (*97)"),
        required=False,
        validators=[pin_validator],
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Оставьте пустым, чтобы не менять."),
    )

    class Meta:
        model = Mailbox
        fields = ["employee", "department", "enabled", "email", "attach_audio", "max_seconds"]

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.fields["employee"].queryset = Employee.objects.filter(
            customer=customer, is_active=True
        )
        self.fields["department"].queryset = Department.objects.filter(customer=customer)
        if self.instance.pk:
            del self.fields["employee"]
            del self.fields["department"]

    def clean(self):
        data = super().clean()
        if not self.instance.pk:
            employee, department = data.get("employee"), data.get("department")
            if bool(employee) == bool(department):
                raise forms.ValidationError(_("Выберите сотрудника или отдел."))
            owner = {"employee": employee} if employee else {"department": department}
            if Mailbox.objects.filter(**owner).exists():
                raise forms.ValidationError(_("У него уже есть ящик."))
        return data


class GreetingTextForm(forms.Form):
    text = forms.CharField(
        label=_("Текст приветствия"),
        max_length=300,
        initial=_("Сейчас никто не может ответить. Оставьте сообщение после сигнала."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class GreetingUploadForm(forms.Form):
    file = forms.FileField(label=_("Своя запись (WAV)"))

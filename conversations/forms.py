"""Forms of the HTML pages. The rules live in the services; forms only shape the input."""

from django import forms

from conversations.models import (
    CONTENT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    ConversationKind,
    ReportReason,
)


class ConversationForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            (ConversationKind.ASSISTANT, "With the assistant"),
            (ConversationKind.DIRECT, "Direct, with one person"),
            (ConversationKind.GROUP, "Group"),
        ],
        initial=ConversationKind.ASSISTANT,
    )
    workspace = forms.ChoiceField(required=False)
    agent = forms.ChoiceField(required=False, label="Assistant")
    title = forms.CharField(required=False, max_length=TITLE_MAX_LENGTH)
    participants = forms.CharField(
        required=False,
        label="People",
        help_text="Usernames, separated by commas or spaces.",
        max_length=2000,
    )

    def __init__(self, *args, agents=(), memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        # A team first: that is where other people are (the personal one is for oneself).
        ordered = sorted(memberships, key=lambda m: m.workspace.is_personal)
        self.fields["workspace"].choices = [(m.workspace.slug, m.workspace.name) for m in ordered]
        self.fields["agent"].choices = [("", "Default")] + [
            (str(agent.pk), f"{agent.name} ({agent.workspace.name})") for agent in agents
        ]

    def clean_participants(self) -> list[str]:
        raw = self.cleaned_data.get("participants", "")
        return [name for name in raw.replace(",", " ").split() if name]


class MessageForm(forms.Form):
    content = forms.CharField(
        max_length=CONTENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Write a message…"}),
        strip=False,
    )
    client_message_id = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)


class RenameForm(forms.Form):
    title = forms.CharField(required=False, max_length=TITLE_MAX_LENGTH)


class ReportForm(forms.Form):
    reason = forms.ChoiceField(choices=ReportReason.choices)
    note = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)

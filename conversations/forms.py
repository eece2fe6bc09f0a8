"""Forms of the HTML pages. The rules live in the services; forms only shape the input."""

from django import forms

from conversations.models import (
    CONTENT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    ConversationKind,
    ReportReason,
    WorkspaceRole,
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
    # A plain text field; static/js/people.js makes it a combobox that finds members of
    # the chosen workspace as one types (GET /api/v1/workspaces/{slug}/members?q=).
    participants = forms.CharField(
        required=False,
        label="People",
        help_text="Usernames, separated by commas or spaces.",
        max_length=2000,
        widget=forms.TextInput(
            attrs={"data-people": "", "autocomplete": "off", "aria-describedby": "people-help"}
        ),
    )

    def __init__(self, *args, agents=(), memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        # The shared workspace first, then other teams: that is where other people are (the
        # personal one, last, is for oneself). The first is the one chosen.
        ordered = sorted(
            memberships, key=lambda m: (not m.workspace.is_shared, m.workspace.is_personal)
        )
        self.fields["workspace"].choices = [
            (
                m.workspace.slug,
                f"{m.workspace.name} (only you)" if m.workspace.is_personal else m.workspace.name,
            )
            for m in ordered
        ]
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


# --- a workspace's members and invitations (conversations/workspace_views.py) -------------

GRANTABLE_ROLES = [(WorkspaceRole.MEMBER, "Member"), (WorkspaceRole.ADMIN, "Admin")]


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=GRANTABLE_ROLES, initial=WorkspaceRole.MEMBER)


class InvitationForm(forms.Form):
    email = forms.EmailField(
        required=False,
        max_length=254,
        help_text="Only the person with this email can use the link, once. Empty: anyone "
        "who has the link can join until it expires.",
    )
    role = forms.ChoiceField(choices=GRANTABLE_ROLES, initial=WorkspaceRole.MEMBER)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=90, initial=7, label="Expires after (days)"
    )


class MemberRoleForm(forms.Form):
    user = forms.UUIDField(widget=forms.HiddenInput)
    role = forms.ChoiceField(choices=WorkspaceRole.choices)


class MemberForm(forms.Form):
    """Removing someone, or revoking an invitation: the one id the button carries."""

    id = forms.UUIDField()

"""Forms of the HTML pages. The rules live in the services; forms only shape the input."""

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.models import (
    CONTENT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    ConversationKind,
    ReportReason,
    WorkspaceRole,
)


class ConversationForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[
            (ConversationKind.ASSISTANT, _("With the assistant")),
            (ConversationKind.DIRECT, _("Direct, with one person")),
            (ConversationKind.GROUP, _("Group")),
        ],
        initial=ConversationKind.ASSISTANT,
    )
    workspace = forms.ChoiceField(required=False, label=_("Workspace"))
    agent = forms.ChoiceField(required=False, label=_("Assistant"))
    title = forms.CharField(required=False, max_length=TITLE_MAX_LENGTH, label=_("Title"))
    # A plain text field; static/js/people.js makes it a combobox that finds members of
    # the chosen workspace as one types (GET /api/v1/workspaces/{slug}/members?q=).
    participants = forms.CharField(
        required=False,
        label=_("People"),
        help_text=_("Usernames, separated by commas or spaces."),
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
                _("%(workspace)s (only you)") % {"workspace": m.workspace.name}
                if m.workspace.is_personal
                else m.workspace.name,
            )
            for m in ordered
        ]
        self.fields["agent"].choices = [("", _("Default"))] + [
            (str(agent.pk), f"{agent.name} ({agent.workspace.name})") for agent in agents
        ]

    def clean_participants(self) -> list[str]:
        raw = self.cleaned_data.get("participants", "")
        return [name for name in raw.replace(",", " ").split() if name]


class MessageForm(forms.Form):
    content = forms.CharField(
        max_length=CONTENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Write a message…")}),
        strip=False,
    )
    client_message_id = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)


class RenameForm(forms.Form):
    title = forms.CharField(required=False, max_length=TITLE_MAX_LENGTH)


class ReportForm(forms.Form):
    reason = forms.ChoiceField(choices=ReportReason.choices, label=_("Report as"))
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.TextInput, label=_("Note (optional)")
    )


# --- a workspace's members and invitations (conversations/workspace_views.py) -------------

GRANTABLE_ROLES = [(WorkspaceRole.MEMBER, _("Member")), (WorkspaceRole.ADMIN, _("Admin"))]


class MemberAddForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=GRANTABLE_ROLES, initial=WorkspaceRole.MEMBER)


class InvitationForm(forms.Form):
    email = forms.EmailField(
        required=False,
        max_length=254,
        label=_("Email"),
        help_text=_(
            "Only the person with this email can use the link, once. Empty: anyone who has "
            "the link can join until it expires."
        ),
    )
    role = forms.ChoiceField(label=_("Role"), choices=GRANTABLE_ROLES, initial=WorkspaceRole.MEMBER)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=90, initial=7, label=_("Expires after (days)")
    )


class MemberRoleForm(forms.Form):
    user = forms.UUIDField(widget=forms.HiddenInput)
    role = forms.ChoiceField(label=_("Role"), choices=WorkspaceRole.choices)


class MemberForm(forms.Form):
    """Removing someone, or revoking an invitation: the one id the button carries."""

    id = forms.UUIDField()

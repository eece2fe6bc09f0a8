"""Forms of the account pages; the rules are in chatapp.accounts.services."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from chatapp import ratelimit
from chatapp.accounts import signin
from conversations.exceptions import RateLimited


class SignInLimited:
    """Counts a form's failed sign-ins as the API's token endpoint does (chatapp.accounts.
    signin); a locked-out attempt is refused before the password is tried, and the view
    answers 429 with `retry_after`."""

    retry_after: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()
        attempt = signin.attempt_for(self.request, username)
        try:
            attempt.check()
        except RateLimited as error:
            self.retry_after = error.retry_after
            raise ValidationError(ratelimit.page_message(error), code="rate_limited") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            attempt.failed()
            raise
        attempt.succeeded()
        return cleaned


class SignInForm(SignInLimited, AuthenticationForm):
    username = forms.CharField(
        label=_("Username or email"),
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )


class AdminSignInForm(SignInLimited, AdminAuthenticationForm):
    pass


class RegisterForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=50,
        help_text=_("3 to 50 letters, digits or underscores."),
    )
    email = forms.EmailField(label=_("Email"), max_length=254)
    display_name = forms.CharField(label=_("Display name"), max_length=150, required=False)
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        max_length=1000,
        help_text=_("At least 8 characters, with an upper- and a lowercase letter and a digit."),
    )


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=150, required=False)


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    expires_in_days = forms.IntegerField(
        label=_("Expires after (days, optional)"), min_value=1, max_value=3650, required=False
    )


THEMES = [("system", _("Like the system")), ("light", _("Light")), ("dark", _("Dark"))]


class ThemeForm(forms.Form):
    # Radios: the settings page lays out one labelled choice each (a select's options
    # inside labels showed each choice twice and sent nothing).
    theme = forms.ChoiceField(choices=THEMES, widget=forms.RadioSelect)


class LanguageForm(forms.Form):
    """The settings page's language: "" (like the browser) or one of settings.LANGUAGES."""

    language = forms.ChoiceField(label=_("Language of the pages"), required=False)

    def __init__(self, *args, browser_language: str, **kwargs):
        super().__init__(*args, **kwargs)
        names = dict(settings.LANGUAGES)
        like_browser = _("Like my browser (%(language)s)") % {
            "language": names.get(browser_language, browser_language)
        }
        self.fields["language"].choices = [("", like_browser), *settings.LANGUAGES]

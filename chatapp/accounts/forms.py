"""Forms of the account pages; the rules are in chatapp.accounts.services."""

from django import forms


class RegisterForm(forms.Form):
    username = forms.CharField(max_length=50, help_text="3 to 50 letters, digits or underscores.")
    email = forms.EmailField(max_length=254)
    display_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        max_length=1000,
        help_text="At least 8 characters, with an upper- and a lowercase letter and a digit.",
    )


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=150, required=False)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    expires_in_days = forms.IntegerField(min_value=1, max_value=3650, required=False)


THEMES = [("system", "Like the system"), ("light", "Light"), ("dark", "Dark")]


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(choices=THEMES)

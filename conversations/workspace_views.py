"""The workspace pages: the list of your workspaces, a workspace's settings page (its members
and invitations) and an invitation link's page, on the same selectors and services as the
API (conversations/api/workspaces.py). Every act is a plain form that redirects back; a
workspace you are not in is the 404 page, as for one that does not exist (docs/ui.md)."""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as PageForbidden
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods

from chatapp.api import STATUS_BY_ERROR
from conversations import services
from conversations.exceptions import BadCursor, ChatError, NotFound, PermissionDenied
from conversations.forms import InvitationForm, MemberAddForm, MemberForm, MemberRoleForm
from conversations.models import Membership, WorkspaceRole
from conversations.pagination import decode_cursor, encode_cursor
from conversations.selectors import members as selectors
from conversations.services.invitations import check_usable, invitation_find
from conversations.templatetags.chat import role_word

MEMBERS_PAGE = 50


def _status_of(error: ChatError) -> int:
    return next((code for kind, code in STATUS_BY_ERROR if isinstance(error, kind)), 400)


@login_required
@require_GET
def workspaces(request: HttpRequest) -> HttpResponse:
    """Your workspaces, each with its members' count and your role."""
    memberships = list(
        Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .annotate(members=Count("workspace__memberships"))
        .order_by("-workspace__is_shared", "workspace__is_personal", "workspace__name")
    )
    return render(request, "conversations/workspaces.html", {"memberships": memberships})


def _membership(request: HttpRequest, slug: str) -> Membership:
    try:
        return selectors.membership_get_for_user(user=request.user, slug=slug)
    except NotFound:
        raise Http404("No such workspace.") from None


def _after(request: HttpRequest) -> str | None:
    """The members page's cursor (the last username shown); an old or edited one is the
    first page, as in the sidebar."""
    cursor = request.GET.get("cursor")
    if not cursor:
        return None
    try:
        (username,) = decode_cursor("members", cursor, length=1)
    except BadCursor:
        return None
    return username if isinstance(username, str) else None


def _page(
    request: HttpRequest, membership: Membership, *, status: int = 200, **context
) -> HttpResponse:
    workspace = membership.workspace
    query = selectors.clean_member_query(request.GET.get("q"))
    members, has_more = selectors.workspace_members(
        membership=membership, query=query, after=_after(request), limit=MEMBERS_PAGE
    )
    more_query = None
    if has_more:
        more = QueryDict(mutable=True)
        if query:
            more["q"] = query
        more["cursor"] = encode_cursor("members", [members[-1].user.username])
        more_query = more.urlencode()
    manages = membership.role in selectors.MANAGER_ROLES and not workspace.is_personal
    invitations = (
        selectors.invitations_of(membership=membership, live_only=True, limit=100)[0]
        if manages
        else []
    )
    context = {
        "workspace": workspace,
        "membership": membership,
        "is_owner": membership.role == WorkspaceRole.OWNER,
        "manages": manages,
        "members": members,
        "more_query": more_query,
        "query": query,
        "invitations": invitations,
        "roles": WorkspaceRole.choices,
        "add_form": MemberAddForm(),
        "invitation_form": InvitationForm(),
        **context,
    }
    response = render(request, "conversations/workspace.html", context, status=status)
    if context.get("created_link"):
        response["Cache-Control"] = "no-store"  # the link is shown this once
    return response


@login_required
@require_http_methods(["GET", "POST"])
def workspace(request: HttpRequest, slug: str) -> HttpResponse:
    """A workspace's settings page: its members and roles, and (for its owners and admins)
    adding people, invitation links, role changes and removals. POST `action` is one of
    add, invite, revoke, role, remove (a member removing themselves leaves)."""
    membership = _membership(request, slug)
    if request.method == "GET":
        return _page(request, membership)
    workspace = membership.workspace
    here = reverse("conversations:workspace", args=[workspace.slug])
    action = request.POST.get("action", "")
    forms = {
        "add": MemberAddForm,
        "invite": InvitationForm,
        "role": MemberRoleForm,
        "remove": MemberForm,
        "revoke": MemberForm,
    }
    if action not in forms:
        return _page(request, membership, status=400, error=gettext("Unknown action."))
    form = forms[action](request.POST)
    if not form.is_valid():
        names = {"add": "add_form", "invite": "invitation_form"}
        return _page(request, membership, status=422, **{names.get(action, "form"): form})
    data = form.cleaned_data
    try:
        if action == "add":
            user = selectors.user_for_invitation(username=data["username"])
            _, added = services.member_add(
                workspace=workspace, actor=request.user, user=user, role=data["role"]
            )
            flash.success(
                request,
                (
                    gettext("%(name)s is a member now.")
                    if added
                    else gettext("%(name)s is in already.")
                )
                % {"name": user.name},
            )
        elif action == "invite":
            issued = services.invitation_create(
                workspace=workspace,
                actor=request.user,
                email=data["email"],
                role=data["role"],
                expires_in_days=data["expires_in_days"],
            )
            link = request.build_absolute_uri(
                reverse("conversations:invitation", args=[issued.token])
            )
            return _page(
                request, membership, created_link=link, created_invitation=issued.invitation
            )
        elif action == "revoke":
            invitation = selectors.invitation_get_for_manager(
                membership=membership, invitation_id=data["id"]
            )
            services.invitation_revoke(invitation=invitation, actor=request.user)
            flash.success(request, gettext("Invitation revoked: its link no longer works."))
        elif action == "role":
            user = selectors.member_user_get(membership=membership, user_id=data["user"])
            services.member_set_role(
                workspace=workspace, actor=request.user, user=user, role=data["role"]
            )
            flash.success(
                request,
                gettext("%(name)s is now %(role)s.")
                % {"name": user.name, "role": role_word(data["role"])},
            )
        else:
            user = selectors.member_user_get(membership=membership, user_id=data["id"])
            services.member_remove(workspace=workspace, actor=request.user, user=user)
            if user.pk == request.user.pk:
                flash.success(
                    request, gettext("You left %(workspace)s.") % {"workspace": workspace.name}
                )
                return redirect("conversations:workspaces")
            flash.success(
                request,
                gettext("%(name)s is no longer in %(workspace)s.")
                % {"name": user.name, "workspace": workspace.name},
            )
    except PermissionDenied as error:
        raise PageForbidden(error.message) from None
    except NotFound:
        raise Http404("No such member.") from None
    except ChatError as error:
        return _page(request, membership, status=_status_of(error), error=error.message)
    return redirect(here)


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation link: who invites you where, and Join (signed in), or sign in or
    register first and come back here (`next`). A link nobody made is the 404 page; a
    revoked, expired or used one says so (409)."""
    try:
        found = invitation_find(token=token)
    except NotFound:
        raise Http404("No such invitation.") from None
    user = request.user
    member = (
        user.is_authenticated
        and Membership.objects.filter(workspace=found.workspace, user=user).exists()
    )
    if request.method == "POST":
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            membership, joined = services.invitation_accept(token=token, user=user)
        except ChatError as error:
            return _invitation_page(request, found, error=error)
        flash.success(
            request,
            (
                gettext("Welcome to %(workspace)s.")
                if joined
                else gettext("You are in %(workspace)s already.")
            )
            % {"workspace": membership.workspace.name},
        )
        return redirect("conversations:workspace", slug=membership.workspace.slug)
    error = None
    if not member:
        try:
            check_usable(found)
        except ChatError as unusable:
            error = unusable
    return _invitation_page(request, found, error=error, member=member)


def _invitation_page(request: HttpRequest, invitation, *, error=None, member=False):
    response = render(
        request,
        "conversations/invitation.html",
        {
            "invitation": invitation,
            "workspace": invitation.workspace,
            "error": error.message if error else "",
            "member": member,
            "here": request.get_full_path(),
        },
        status=_status_of(error) if error else 200,
    )
    response["Cache-Control"] = "no-store"
    return response

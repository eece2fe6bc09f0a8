"""Message text (Markdown) for people: as HTML that cannot run script, for the thread
(`render_markdown`, the `markdown` template filter), and as plain text, for the sidebar's
previews and the search excerpts (`markdown_to_text`). One parser for both, so that what a
preview says is what the message shows.

The HTML is CommonMark plus GFM tables, strikethrough and task lists (mdit-py-plugins), with
fenced code highlighted by Pygments inside a figure that names its language:

    <figure class="code-block" data-language="python">
      <figcaption class="code-head"><span class="code-lang">python</span></figcaption>
      <pre tabindex="0"><code class="language-python">…</code></pre>
    </figure>

and then sanitised by nh3 with an allow-list of tags, attributes, classes and URL schemes.
"""

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.token import Token
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(nowrap=True)

# A code block with no language in its fence is labelled this.
PLAIN_LANGUAGE = "text"
# The label shows at most this much of what the fence says.
LANGUAGE_LABEL_MAX_LENGTH = 40


def _highlight(code: str, language: str, _attrs) -> str:
    try:
        lexer = get_lexer_by_name(language) if language else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes it as plain code
    return highlight(code, lexer, _FORMATTER)


# Raw HTML in a message is shown as text, never rendered ("html": False); links are not
# made from bare URLs text, only from markdown link syntax.
_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    .enable(["table", "strikethrough"])
    .use(tasklists_plugin)  # disabled checkboxes: a message is not a form
)


def _image_as_link(renderer, tokens, idx, options, env) -> str:
    """An image becomes a link to it, named by its alt text: the page's CSP loads no images
    from other origins, and an <img> it refused would show nothing at all."""
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env).strip()
    label = escapeHtml(f"Image: {alt}" if alt else "Image")
    open_links = sum(
        {"link_open": 1, "link_close": -1}.get(before.type, 0) for before in tokens[:idx]
    )
    if open_links:  # an image inside a link (a badge): the label, in that link
        return label
    return f'<a href="{escapeHtml(token.attrGet("src") or "")}">{label}</a>'


def fence_language(token: Token) -> str:
    """The language a fence names, as written (its info string's first word), else "text"."""
    info = unescapeAll(token.info).strip() if token.info else ""
    return info.split(maxsplit=1)[0][:LANGUAGE_LABEL_MAX_LENGTH] if info else PLAIN_LANGUAGE


def _code_figure(default_rule):
    """A render rule that puts a code block (fenced or indented) in a figure headed by its
    language: the label people look for, and where the copy button goes (static/js)."""

    def render(renderer, tokens, idx, options, env) -> str:
        token = tokens[idx]
        language = escapeHtml(fence_language(token) if token.type == "fence" else PLAIN_LANGUAGE)
        return (
            f'<figure class="code-block" data-language="{language}">'
            f'<figcaption class="code-head"><span class="code-lang">{language}</span>'
            f"</figcaption>{default_rule(tokens, idx, options, env).rstrip()}</figure>\n"
        )

    return render


_MARKDOWN.add_render_rule("image", _image_as_link)
_MARKDOWN.add_render_rule("fence", _code_figure(_MARKDOWN.renderer.rules["fence"]))
_MARKDOWN.add_render_rule("code_block", _code_figure(_MARKDOWN.renderer.rules["code_block"]))

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "figure",
    "figcaption",
    "input",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    # Pygments' token classes (k, nb, s2 …) and ours (code-lang).
    "span": {"class"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
    "figure": {"data-language"},
}
# Tags whose classes are ours alone: any other class is dropped.
_ALLOWED_CLASSES = {
    "ul": {"contains-task-list"},
    "ol": {"contains-task-list"},
    "li": {"task-list-item"},
    "figure": {"code-block"},
    "figcaption": {"code-head"},
}
# A task list's checkbox, and nothing else an <input> can be: a disabled checkbox, ticked
# or not, whatever the HTML before nh3 said.
_INPUT_VALUES = {"input": {"type": {"checkbox"}, "checked": {"checked", ""}}}
_INPUT_SET = {"input": {"type": "checkbox", "disabled": ""}}


@lru_cache(maxsize=2048)
def render_markdown(text: str) -> str:
    """Markdown to HTML that cannot run script: markdown-it without raw HTML, then nh3 with
    an allow-list of tags, attributes and URL schemes (no javascript:, no data:). Images
    are links to them (_image_as_link)."""
    rendered = _MARKDOWN.render(text)
    cleaned = nh3.clean(
        rendered,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        tag_attribute_values=_INPUT_VALUES,
        set_tag_attribute_values=_INPUT_SET,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
    # A code block scrolls sideways: it must be reachable by keyboard (nh3 leaves <pre>
    # without attributes, so this cannot meet one).
    # A task box is named for screen readers (axe: a form element needs a label); nh3 has
    # just written these two forms of it, and a message cannot add attributes to them.
    return (
        cleaned.replace("<pre>", '<pre tabindex="0">')
        .replace(_TICKED_BOX, '<input checked type="checkbox" disabled aria-label="Done">')
        .replace(_OPEN_BOX, '<input type="checkbox" disabled aria-label="Not done">')
    )


_TICKED_BOX = '<input checked="checked" type="checkbox" disabled="">'
_OPEN_BOX = '<input type="checkbox" disabled="">'


# --- plain text -------------------------------------------------------------------------------

# What may make text Markdown rather than plain: without any of these, the text is shown as
# it is (most previews, and a parse costs ~50 µs a row of a hundred-row sidebar).
_MARKUP = re.compile(r"[\\`*_\[\]<>#!|~&=]|^\s*(?:[-+]|\d+[.)])(?:\s|$)|^(?: {4}|\t)", re.MULTILINE)
# Inline tokens whose content is text a reader sees.
_TEXT_TOKENS = {"text", "text_special", "code_inline"}


def _inline_text(children: list[Token], pieces: list[str]) -> None:
    for child in children:
        if child.type in _TEXT_TOKENS:
            pieces.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            pieces.append(" ")
        elif child.type == "image":  # its alt text, as the page's link says
            _inline_text(child.children or [], pieces)


@lru_cache(maxsize=4096)
def markdown_to_text(text: str) -> str:
    """What a message says, as one line of plain text: the words of its Markdown without
    the markup (no `**`, backticks, `#`, `- [ ]`, link targets or fences; a code block's
    code and a link's text stay), whitespace folded to single spaces. For the sidebar's
    previews and the search excerpts, which are escaped and shown as text. Characters that
    are not Markdown (the search's private-use highlight marks) pass through."""
    if not _MARKUP.search(text):
        return " ".join(text.split())
    pieces: list[str] = []
    for token in _MARKDOWN.parse(text):
        if token.type == "inline":
            _inline_text(token.children or [], pieces)
        elif token.type in ("fence", "code_block"):
            pieces.append(token.content)
        if token.block and token.nesting <= 0:  # the end of a block: a word break
            pieces.append(" ")
    return " ".join("".join(pieces).split())


# Markup a cut can leave without its other half: emphasis and strikethrough runs, backticks
# and fences, a link's target or its opening bracket, a task box, a heading's or a quote's
# mark.
_CUT_MARKUP = re.compile(
    r"\*\*+|__+|~~+|`+|\]\([^)\s]*\)?|\[[ xX]?\]\s|(?<!\S)\[(?![^\]\s]*\])"
    r"|(?:^|\s)(?:#{1,6}|>+)(?=\s)"
)


def markdown_fragment_to_text(text: str) -> str:
    """markdown_to_text for a piece cut out of a message (a search excerpt: ts_headline's
    fragments, or a window around a match), whose markup may have lost its other half at
    the cut: what is left of it is dropped too."""
    return " ".join(_CUT_MARKUP.sub(" ", markdown_to_text(text)).split())

"""Every relative link in the Markdown files leads somewhere, and README.md stays a quick start.

A link is relative when it has no scheme (http:, mailto:, ...). Its path must be
an existing file or directory, relative to the file that holds the link; an
#anchor into a Markdown file must name one of its headings, turned into an
anchor the way GitHub does it (lower case, punctuation dropped, spaces to
hyphens, "-1", "-2"... for repeated headings). No network is used.
"""

import re
import subprocess
from urllib.parse import unquote

import pytest
from conftest import ROOT

README_LIMIT = 10240

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target); the target may be <bracketed> and followed by a "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ANCHOR = re.compile(r"<a\s[^>]*(?:name|id)=[\"']([^\"']+)[\"']", re.I)
HTML_HREF = re.compile(r"<a\s[^>]*href=[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files():
    listed = subprocess.run(["git", "ls-files", "-z", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    return sorted(name for name in listed.stdout.split("\0") if name)


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        yield number, line


def heading_text(raw):
    """A heading's text as GitHub renders it: no code ticks, link text only, no emphasis marks or HTML."""
    text = INLINE_CODE.sub(lambda m: m.group(2).strip(), raw)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("*", "")


def slug(text):
    """GitHub's anchor for a heading (github-slugger): lower case, keep letters, digits, _ and -, spaces to -."""
    text = heading_text(text).strip().lower()
    return "".join(char for char in text if char.isalnum() or char in "_- ").replace(" ", "-")


def anchors(path):
    seen = {}
    found = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text):
    """(line number, target) of every link outside code."""
    for number, line in prose_lines(text):
        plain = INLINE_CODE.sub("", line)
        for target in INLINE_LINK.findall(plain) + REFERENCE.findall(plain) + HTML_HREF.findall(plain):
            yield number, target.strip("<>")


def broken_links(name):
    source = ROOT / name
    problems = []
    for number, target in links(source.read_text(encoding="utf-8")):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # a URL: not checked here (no network)
        path_part, _, anchor = target.partition("#")
        path = (source.parent / unquote(path_part)).resolve() if path_part else source
        where = f"{name}:{number}: {target}"
        if not path.exists():
            problems.append(f"{where}: no such file")
        elif ROOT.resolve() not in path.parents and path != ROOT.resolve():
            problems.append(f"{where}: outside the repository")
        elif anchor and path.suffix == ".md" and unquote(anchor).lower() not in anchors(path):
            problems.append(f"{where}: no heading with that anchor in {path.relative_to(ROOT.resolve())}")
    return problems


def test_markdown_files_are_found():
    assert "README.md" in markdown_files()


@pytest.mark.parametrize("name", markdown_files())
def test_relative_links_resolve(name):
    problems = broken_links(name)
    assert not problems, "\n".join(problems)


def test_readme_is_a_quick_start():
    size = (ROOT / "README.md").stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes, more than {README_LIMIT}: move detail into docs/"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Releases: deploy, health check, rollback", "releases-deploy-health-check-rollback"),
        ("`invalid request block size`", "invalid-request-block-size"),
        ('"!!! no internal routing support, rebuild with pcre support !!!"', "-no-internal-routing-support-rebuild-with-pcre-support-"),
        ("Let's Encrypt (real domains)", "lets-encrypt-real-domains"),
        ("The nginx edge: HTTPS, static files", "the-nginx-edge-https-static-files"),
        ("Install from [git](https://example.org) with `requirements.yml`", "install-from-git-with-requirementsyml"),
        ("flask_app *tags*", "flask_app-tags"),
    ],
)
def test_anchors_follow_github(heading, anchor):
    assert slug(heading) == anchor

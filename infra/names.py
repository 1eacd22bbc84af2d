"""Names the stack derives from its project and stack, in the form Google accepts them.

A project ID is 6-30 lowercase letters, digits or hyphens, starting with a letter; older projects may be
domain-scoped, `example.com:my-proj` (Resource Manager, "Creating and managing projects": "domain:project-id").
A Pulumi stack name may hold capitals, `_` and `.`, which a bucket name may not (or, for `.`, only with a
verified domain).
"""

from __future__ import annotations

import re

PROJECT_ID = re.compile(r"(?:(?P<domain>[a-z0-9][a-z0-9.-]*\.[a-z]{2,}):)?(?P<name>[a-z][a-z0-9-]{4,28}[a-z0-9])")
# The stack that keeps every lab value, the bucket's name among them.
LAB_STACK = "dev"
_BUCKET_SUFFIX = "-bucket"
_BUCKET_MAX = 63


def project_name(project: str) -> str:
    """The project ID without its domain: `my-proj` for both `my-proj` and `example.com:my-proj`."""
    match = PROJECT_ID.fullmatch(project)
    return match["name"] if match else project


def default_bucket_name(project: str, stack: str) -> str:
    """The lab's `<project>-bucket` for stack dev; `<project>-<stack>-bucket` for any other, so stacks never share.

    The stack's part is lowercased, with every other character than a letter, digit or hyphen made a hyphen, and
    shortened to keep the name within Cloud Storage's 63 characters.
    """
    if not project:
        return ""
    prefix = project_name(project)
    if stack == LAB_STACK:
        return f"{prefix}{_BUCKET_SUFFIX}"
    room = _BUCKET_MAX - len(prefix) - len(_BUCKET_SUFFIX) - 1
    stack_part = re.sub(r"[^a-z0-9-]+", "-", stack.lower())[:room].strip("-")
    return f"{prefix}-{stack_part}{_BUCKET_SUFFIX}" if stack_part else f"{prefix}{_BUCKET_SUFFIX}"

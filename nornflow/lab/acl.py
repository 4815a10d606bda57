"""Access-list entries as IOS, EOS and NX-OS keep them: numbered, ordered by number, edited by number.

Every entry (``permit``, ``deny``, ``remark``) of a named ACL has a sequence number: a line typed
without one gets the last number plus 10, ``30 permit ...`` goes to its place, ``no 20`` removes
entry 20 and ``no permit ...`` the entry with that text. The lab keeps the number in the line's
text (``20 deny ip any any``) on every platform; IOS 15 hides it in ``show running-config`` and
shows it in ``show ip access-lists``, EOS and NX-OS show it in both (captured outputs in
ntc-templates' tests, Cisco's cisco-network-node-utils ``ace.yaml`` for NX-OS, Arista AVD's
documentation for EOS). IOS also prints ``deny`` padded to line up under ``permit``
(``deny   ip any any``), as real IOS configurations show.
"""

from __future__ import annotations

from nornflow.lab.tree import Node

STEP = 10
ENTRY_WORDS = ("permit", "deny", "remark")
DUPLICATE = "% Duplicate sequence number\n"
INCOMPLETE = "% Incomplete command.\n"


def split(text: str) -> tuple[int | None, str]:
    """``"20 deny ip any any"`` -> (20, ``"deny ip any any"``); (None, text) without a number."""
    head, _, rest = text.partition(" ")
    if head.isdigit():
        return int(head), rest
    return None, text


def is_entry(body: str) -> bool:
    return body.split(" ", 1)[0] in ENTRY_WORDS


def number(section: Node) -> None:
    """Give the entries of a parsed ACL their numbers (IOS's show running-config has none)."""
    last = 0
    for child in section.children:
        seq, body = split(child.text)
        body = " ".join(body.split())
        if not is_entry(body):
            continue
        if seq is None:
            seq = last + STEP
        last = max(last, seq)
        child.text = f"{seq} {body}"


def edit(section: Node, text: str) -> str:
    """Apply one config-mode line typed in an ACL; the device's answer ("" when it takes it)."""
    negate = text.startswith("no ")
    seq, body = split(text[3:] if negate else text)
    entries = [(split(c.text), c) for c in section.children]
    if negate:
        doomed = next((c for (s, b), c in entries if (s == seq if seq is not None else b == body)), None)
        if doomed is None and seq is None:
            doomed = next((c for _, c in entries if c.text == body), None)  # a line that is not an entry
        if doomed is not None:
            section.children.remove(doomed)
        return ""
    if seq is not None and not body:
        return INCOMPLETE
    if not is_entry(body):
        if section.find(text) is None:
            section.children.append(type(section)(text))
        return ""
    numbers = [s for (s, _), _ in entries if s is not None]
    if seq is None:
        if any(b == body for (s, b), _ in entries if s is not None):
            return ""  # the same entry again: the device keeps one
        seq = max(numbers, default=0) + STEP
    elif seq in numbers:
        same = any(s == seq and b == body for (s, b), _ in entries)
        return "" if same else DUPLICATE
    at = next((i for i, ((s, _), _) in enumerate(entries) if s is not None and s > seq), len(entries))
    section.children.insert(at, type(section)(f"{seq} {body}"))
    return ""


def shown(text: str, *, numbered: bool, padded: bool) -> str:
    """An entry as ``show running-config`` prints it on the platform."""
    seq, body = split(text)
    if seq is None or not is_entry(body):  # `no 20` leaves no line; other lines are as typed
        return text
    if padded and body.startswith("deny "):
        body = "deny   " + body[5:]
    return f"{seq} {body}" if numbered else body


def renumber_prefix_list(siblings: list[Node], text: str, step: int) -> str:
    """``ip prefix-list NAME permit ...`` typed without ``seq``: the device adds the next multiple of ``step``."""
    words = text.split()
    if len(words) < 4 or words[3] == "seq" or words[3] not in ("permit", "deny"):
        return text
    used = [int(w[4]) for w in (s.text.split() for s in siblings)
            if w[:2] == words[:2] and len(w) > 4 and w[3] == "seq" and w[4].isdigit()]
    seq = (max(used, default=0) // step + 1) * step
    return " ".join([*words[:3], "seq", str(seq), *words[3:]])

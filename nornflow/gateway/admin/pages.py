"""The admin page's HTML: server-rendered, no script (the gateway's Content-Security-Policy holds here too).

Every form that changes something posts the session's CSRF token in a hidden field; the secret of a
new token appears once, in the answer to its creation, and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from nornflow.gateway.admin.actions import token_state

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;margin:0;color:#1f2328}
main{max-width:1100px;margin:24px auto;padding:0 16px}
header{display:flex;justify-content:space-between;align-items:baseline;margin-bottom:12px}
h1{font-size:22px;margin:0}h2{font-size:16px;margin:0 0 10px}p.sub{color:#59636e;margin:4px 0 0;font-size:14px}
section{background:#fff;border-radius:10px;padding:18px 20px;margin:14px 0;box-shadow:0 2px 12px rgba(0,0,0,.06)}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #eaeef2;vertical-align:top}th{color:#59636e;font-weight:600}
form.row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-end;margin:10px 0}
form.inline{display:inline;margin:0}
label{display:flex;flex-direction:column;font-size:12px;font-weight:600;color:#59636e;gap:3px}
input,select{padding:6px 8px;border:1px solid #d0d7de;border-radius:6px;font-size:13px}
fieldset{border:1px solid #d0d7de;border-radius:6px;padding:4px 8px;font-size:12px}
fieldset label{display:inline;font-weight:400;color:#1f2328;margin-right:6px}
button{padding:7px 12px;border:0;border-radius:6px;background:#2563eb;color:#fff;font-size:13px;font-weight:600;
cursor:pointer}button.warn{background:#b42318}button.small{padding:3px 8px;font-size:12px}
.msg{padding:10px 12px;border-radius:6px;font-size:14px;margin:10px 0}
.err{background:#fde8e8;color:#8a1c1c}.ok{background:#e7f5ec;color:#1b5e33}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
pre{background:#0d1117;color:#e6edf3;padding:12px;border-radius:6px;overflow-x:auto;white-space:pre-wrap;
word-break:break-all}.muted{color:#59636e}p.muted{font-size:13px}
.tag{background:#eef2ff;border-radius:4px;padding:1px 6px;margin-right:4px}
.state-revoked,.state-expired,.state-disabled{color:#8a1c1c}.state-active{color:#1b5e33}a{color:#2563eb}
"""


def _page(title: str, owner: str, owns: Iterable[str], body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)} · NornFlow</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{_STYLE}</style></head><body>"
            f"<main><header><div><h1>{escape(title)}</h1><p class=sub>Logged in as <b>{escape(owner)}</b>, owner of "
            f"{escape(', '.join(sorted(owns)))}</p></div><nav><a href=/admin>Admin</a> · <a href=/>Your workspaces</a>"
            f" · <a href=/logout>Log out</a></nav></header>{body}</main></body></html>")


def _csrf(token: str) -> str:
    return f"<input type=hidden name=csrf value='{escape(token)}'>"


def _message(notice: str, error: str) -> str:
    return ((f"<div class='msg err' role=alert>{escape(error)}</div>" if error else "")
            + (f"<div class='msg ok' role=status>{escape(notice)}</div>" if notice else ""))


def _select(name: str, options: Iterable[str], label: str) -> str:
    items = "".join(f"<option>{escape(o)}</option>" for o in options)
    return f"<label>{escape(label)}<select name={name} required>{items}</select></label>"


def _roles(roles: Sequence[str], prefix: str) -> str:
    boxes = "".join(f"<label><input type=checkbox name=role value='{escape(r)}' id='{prefix}-{escape(r)}'>"
                    f" {escape(r)}</label>" for r in roles)
    return f"<fieldset><legend>roles</legend>{boxes}</fieldset>"


def _when(value: Any) -> str:
    return escape(value.isoformat(timespec="seconds")) if value is not None and hasattr(value, "isoformat") \
        else "never" if value is None else escape(str(value))


def _user_row(user: Any, held: Mapping[str, Sequence[str]], hidden: str) -> str:
    tags = " ".join(f"<span class=tag>{escape(ws)}: {escape(', '.join(r))}</span>" for ws, r in held.items())
    state = "disabled" if user.disabled else "active"
    action, button = ("enable", "small") if user.disabled else ("disable", "small warn")
    return (f"<tr><td><b>{escape(user.name)}</b></td><td class='state-{state}'>{state}</td><td>{tags}</td>"
            f"<td><form class=inline method=post action=/admin/users/{action}>{hidden}"
            f"<input type=hidden name=name value='{escape(user.name)}'>"
            f"<button class='{button}' type=submit>{action.capitalize()}</button></form></td></tr>")


def _token_row(info: Any, hidden: str) -> str:
    state = token_state(info)
    revoke = "" if state != "active" else (
        f"<form class=inline method=post action=/admin/tokens/revoke>{hidden}"
        f"<input type=hidden name=id value='{escape(info.id)}'>"
        f"<button class='small warn' type=submit>Revoke</button></form>")
    return (f"<tr><td><code>{escape(info.id)}</code></td><td>{escape(info.user)}</td><td>{escape(info.workspace)}</td>"
            f"<td>{escape(', '.join(sorted(info.roles)))}</td><td class='state-{state}'>{state}</td>"
            f"<td>{_when(info.expires_at)}</td><td>{_when(info.last_used_at)}</td><td>{escape(info.description)}</td>"
            f"<td>{revoke}</td></tr>")


def admin_page(*, owner: str, owns: Iterable[str], csrf: str, users: Sequence[tuple[Any, Mapping[str, Sequence[str]]]],
               tokens: Sequence[Any], roles: Sequence[str], groups: Sequence[tuple[str, str, str]],
               audit: Sequence[Mapping[str, Any]], audit_filter: Mapping[str, str], notice: str = "",
               error: str = "", sign_on: Sequence[str] = ()) -> str:
    owned = sorted(owns)
    hidden = _csrf(csrf)
    user_rows = "".join(_user_row(u, held, hidden) for u, held in users) \
        or "<tr><td colspan=4 class=muted>No users in your workspaces yet.</td></tr>"
    token_rows = "".join(_token_row(t, hidden) for t in tokens) \
        or "<tr><td colspan=9 class=muted>No tokens in your workspaces.</td></tr>"
    group_rows = ("".join(f"<tr><td><code>{escape(s)}</code></td><td>{escape(g)}</td><td>{escape(r)}</td></tr>"
                          for s, g, r in groups)
                  if groups else "<tr><td colspan=3 class=muted>none configured</td></tr>")
    audit_rows = "".join(
        f"<tr><td>{escape(str(r.get('ts', ''))[:19])}</td><td>#{escape(str(r.get('seq', '')))}</td>"
        f"<td>{escape(str(r.get('user') or '-'))}</td><td>{escape(str(r.get('workspace') or '-'))}</td>"
        f"<td>{escape(str(r.get('action', '')))}</td><td>{escape(str(r.get('status', '')))}</td>"
        f"<td><code>{escape(str(r.get('method') or ''))} {escape(str(r.get('path') or ''))}</code></td>"
        f"<td><code>{escape(json.dumps(r.get('detail') or {}, sort_keys=True))}</code></td></tr>"
        for r in audit) or "<tr><td colspan=8 class=muted>No matching records.</td></tr>"
    f = {k: escape(v) for k, v in audit_filter.items()}
    body = f"""{_message(notice, error)}
<section id=users><h2>Users and their roles</h2>
<table><thead><tr><th>user</th><th>state</th><th>roles in your workspaces</th><th></th></tr></thead>
<tbody>{user_rows}</tbody></table>
<form class=row method=post action=/admin/users/add>{hidden}
<label>new user<input name=name required pattern='[a-z0-9][a-z0-9._@-]{{0,63}}' autocomplete=off></label>
<label>password (12+)<input name=password type=password minlength=12 required autocomplete=new-password></label>
{_select("workspace", owned, "workspace")}{_roles(roles, "add")}<button type=submit>Add user</button></form>
<form class=row method=post action=/admin/users/grant>{hidden}
<label>user<input name=name required></label>{_select("workspace", owned, "workspace")}{_roles(roles, "grant")}
<button type=submit>Grant roles</button></form>
<form class=row method=post action=/admin/users/passwd>{hidden}
<label>user<input name=name required></label>
<label>new password (12+)<input name=password type=password minlength=12 required autocomplete=new-password></label>
<button type=submit>Set password</button></form></section>
<section id=tokens><h2>Tokens</h2>
<form class=row method=post action=/admin/tokens/create>{hidden}
<label>user<input name=user required></label>{_select("workspace", owned, "workspace")}{_roles(roles, "token")}
<label>lifetime<input name=ttl placeholder=90d size=6></label>
<label>description<input name=description maxlength=200></label><button type=submit>Create token</button></form>
<table><thead><tr><th>id</th><th>user</th><th>workspace</th><th>roles</th><th>state</th><th>expires</th>
<th>last used</th><th>description</th><th></th></tr></thead><tbody>{token_rows}</tbody></table>
<p class=muted>Signing keys concern every workspace: rotate and retire them on the gateway host
(<code>nornflow token rotate-key</code>, <code>keys</code>, <code>retire-key</code>).</p></section>
<section id=groups><h2>Group-to-role mapping in effect</h2>
<p class=muted>Sign-on: {escape("; ".join(sign_on) or "local users (passwords)")}. A person's roles from their
groups are set again at each login and recheck.</p>
<table><thead><tr><th>setting</th><th>group</th><th>grants</th></tr></thead><tbody>{group_rows}</tbody></table>
</section>
<section id=audit><h2>Audit trail</h2>
<form class=row method=get action=/admin#audit>
<label>by user<input name=user value='{f.get("user", "")}'></label>
<label>about user<input name=target value='{f.get("target", "")}'></label>
<label>workspace<input name=workspace value='{f.get("workspace", "")}'></label>
<label>action<input name=action value='{f.get("action", "")}' placeholder=login></label>
<label>since<input name=since value='{f.get("since", "")}' placeholder=1d size=8></label>
<button type=submit>Filter</button></form>
<table><thead><tr><th>time (UTC)</th><th>seq</th><th>user</th><th>workspace</th><th>action</th><th>status</th>
<th>request</th><th>detail</th></tr></thead><tbody>{audit_rows}</tbody></table></section>"""
    return _page("Gateway admin", owner, owns, body)


def token_created_page(*, owner: str, owns: Iterable[str], info: Any, secret: str) -> str:
    """The one time a token's secret is shown."""
    body = f"""<section><h2>Token {escape(info.id)} created</h2>
<div class='msg ok' role=status>For {escape(info.user)} in {escape(info.workspace)}
({escape(', '.join(sorted(info.roles)))}), expires {_when(info.expires_at)}. The secret is shown this once: copy it
now; only its digest is kept.</div>
<pre id=secret>NORNFLOW_TOKEN_ID={escape(info.id)}
PREFECT_API_AUTH_STRING="{escape(info.user)}:{escape(secret)}"</pre>
<p><a href=/admin#tokens>Back to the admin page</a></p></section>"""
    return _page("Token created", owner, owns, body)

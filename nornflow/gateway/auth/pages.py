"""The gateway's own pages: log in, choose a workspace, a refusal a person can read.

Plain server-rendered HTML with no script, so the strict Content-Security-Policy holds here too.
"""

from __future__ import annotations

from html import escape

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;margin:0;color:#1f2328}
main{max-width:380px;margin:12vh auto;background:#fff;border-radius:10px;padding:32px;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:20px;margin:0 0 4px}p.sub{color:#59636e;margin:0 0 24px;font-size:14px}
label{display:block;font-size:13px;font-weight:600;margin:14px 0 6px}
input{width:100%;box-sizing:border-box;padding:9px 10px;border:1px solid #d0d7de;border-radius:6px;font-size:14px}
button{margin-top:22px;width:100%;padding:10px;border:0;border-radius:6px;background:#2563eb;color:#fff;
font-size:15px;font-weight:600;cursor:pointer}
.msg{padding:10px 12px;border-radius:6px;font-size:14px;margin-bottom:8px}
.err{background:#fde8e8;color:#8a1c1c}.ok{background:#e7f5ec;color:#1b5e33}
a.sso{display:block;text-align:center;padding:10px;border-radius:6px;background:#1f2328;color:#fff;
font-size:15px;font-weight:600;text-decoration:none;margin-top:8px}p.or{text-align:center;color:#59636e;margin:16px 0 0}
ul{padding-left:18px}li{margin:8px 0}a{color:#2563eb}footer{margin-top:24px;font-size:12px;color:#59636e}
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>")


def login_page(*, next_url: str = "/", error: str = "", notice: str = "", sso: tuple[str, str] | None = None,
               password_form: bool = True) -> str:
    """``sso``: (label, href) of the single sign-on button; ``password_form``: False when local logins are
    turned off and no directory is configured."""
    message = (f"<div class='msg err' role=alert>{escape(error)}</div>" if error else "") + \
              (f"<div class='msg ok' role=status>{escape(notice)}</div>" if notice else "")
    button = (f"<a class=sso href=\"{escape(sso[1])}\">Log in with {escape(sso[0])}</a>" if sso else "")
    form = f"""<form method=post action=/login>
<input type=hidden name=next value="{escape(next_url)}">
<label for=username>User name</label><input id=username name=username autocomplete=username required autofocus>
<label for=password>Password</label>
<input id=password name=password type=password autocomplete=current-password required>
<button type=submit>Log in</button></form>""" if password_form else ""
    between = "<p class=or>or</p>" if button and form else ""
    return _page("Log in · NornFlow", f"""
<h1>NornFlow NetOps</h1><p class=sub>Log in to your team's workspaces</p>{message}{button}{between}{form}""")


def workspaces_page(user: str, workspaces: dict[str, list[str]]) -> str:
    items = "".join(
        f"<li><a href='/w/{escape(name)}/'>{escape(name)}</a> <small>({escape(', '.join(sorted(roles)))})</small></li>"
        for name, roles in sorted(workspaces.items()))
    items = items or "<li>You have no role in any workspace yet: ask an owner.</li>"
    return _page("Workspaces · NornFlow", f"""
<h1>Workspaces</h1><p class=sub>Logged in as <b>{escape(user)}</b></p><ul>{items}</ul>
<footer><a href=/logout>Log out</a></footer>""")


def refusal_page(title: str, detail: str, user: str = "") -> str:
    who = f"<p class=sub>Logged in as <b>{escape(user)}</b></p>" if user else ""
    return _page(f"{title} · NornFlow", f"""
<h1>{escape(title)}</h1>{who}<div class='msg err' role=alert>{escape(detail)}</div>
<footer><a href=/>Your workspaces</a> · <a href=/logout>Log out</a></footer>""")

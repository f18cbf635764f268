#!/usr/bin/env python3
"""Writes tests/data/chat_templates.json: what real chat templates render
under Jinja for a few conversations, for test_chat to compare wgml's
hand-written renderer (src/models/chat.c) with, byte for byte.

Pinned: pip install jinja2==3.1.6 gguf==0.19.0
(llama-cpp-python==0.3.36 is fetched as an sdist with pip download for the
templates it ships; nothing of it is installed.)

Templates and where they come from:
  smollm2      tokenizer.chat_template of .deps/models/SmolLM2-135M-Instruct/*.gguf
  qwen2        tokenizer.chat_template of .deps/vocab/ggml-vocab-qwen2.gguf
  qwen2.5      llama.cpp models/templates/Qwen-Qwen2.5-7B-Instruct.jinja
  llama3       llama-cpp-python llama_chat_format.LLAMA3_INSTRUCT_CHAT_TEMPLATE
               (Meta-Llama-3-8B-Instruct's)
  llama3.2     llama.cpp models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja
  llama2       meta-llama/Llama-2-7b-chat-hf's tokenizer_config.json chat_template
               (below; the same string appears verbatim in several public
               projects that test chat templates)
  mistral      llama-cpp-python llama_chat_format.MIXTRAL_INSTRUCT_CHAT_TEMPLATE
               (Mistral-7B-Instruct-v0.2 / Mixtral's: [INST] without <<SYS>>)

The environment is the one Hugging Face transformers renders chat templates
with (trim_blocks, lstrip_blocks, a raise_exception global). A conversation the
template rejects (raise_exception) is stored with "error": true; the renderer
must reject it too. Combinations where wgml deliberately differs are left out
(a system message under a template without one: Jinja raises, wgml prepends it
to the first user message).
"""
import ast
import glob
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import jinja2
import jinja2.sandbox
from gguf import GGUFReader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LCP = "llama-cpp-python==0.3.36"

LLAMA2_CHAT = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)

CONVERSATIONS = {
    "full": [
        {"role": "system", "content": "You are a helpful assistant"},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there"},
        {"role": "user", "content": "Who are you"},
        {"role": "assistant", "content": "   I am an assistant   "},
        {"role": "user", "content": "Another question"},
    ],
    "one_user": [{"role": "user", "content": "What is 2+2?"}],
    "no_system": [
        {"role": "user", "content": "  H\u00e9llo\u00a0w\u00f6rld \u3000"},
        {"role": "assistant", "content": "\tanswer with a trailing newline\n"},
        {"role": "user", "content": "\u00dcn\u00efc\u00f6d\u00e9 \U0001f642 and \u4e2d\u6587\n\n"},
    ],
    "system_user": [
        {"role": "system", "content": " Be brief.\u2003"},
        {"role": "user", "content": "Tell me a joke\x1f"},
    ],
    "not_alternating": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ],
}


def fetch_lcp_sources():
    tmp = tempfile.mkdtemp()
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                    ":all:", "-d", tmp, LCP], check=True)
    sdist = glob.glob(os.path.join(tmp, "llama_cpp_python-*.tar.gz"))[0]
    out = {}
    with tarfile.open(sdist) as tf:
        for m in tf.getmembers():
            base = m.name.split("/", 1)[1] if "/" in m.name else m.name
            if base in ("llama_cpp/llama_chat_format.py",
                        "vendor/llama.cpp/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja",
                        "vendor/llama.cpp/models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja"):
                out[base] = tf.extractfile(m).read().decode()
    return out


def constant(py_source, name):
    for node in ast.parse(py_source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


def gguf_template(path):
    r = GGUFReader(path)
    f = r.fields["tokenizer.chat_template"]
    return bytes(f.parts[f.data[0]]).decode()


def main():
    src = fetch_lcp_sources()
    fmt = src["llama_cpp/llama_chat_format.py"]
    smol = glob.glob(os.path.join(ROOT, ".deps/models/SmolLM2-135M-Instruct/*.gguf"))[0]
    templates = [
        # name, template, bos, eos, format wgml must detect, system supported
        ("smollm2", gguf_template(smol), "", "<|im_end|>", "chatml", True),
        ("qwen2", gguf_template(os.path.join(ROOT, ".deps/vocab/ggml-vocab-qwen2.gguf")), "",
         "<|endoftext|>", "chatml", True),
        ("qwen2.5", src["vendor/llama.cpp/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"], "",
         "<|im_end|>", "chatml", True),
        ("llama3", constant(fmt, "LLAMA3_INSTRUCT_CHAT_TEMPLATE"), "<|begin_of_text|>",
         "<|eot_id|>", "llama3", True),
        ("llama3.2", src["vendor/llama.cpp/models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja"],
         "<|begin_of_text|>", "<|eot_id|>", "llama3", True),
        ("llama2", LLAMA2_CHAT, "<s>", "</s>", "llama2", True),
        ("mistral", constant(fmt, "MIXTRAL_INSTRUCT_CHAT_TEMPLATE"), "<s>", "</s>", "llama2", False),
    ]
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env.globals["raise_exception"] = raise_exception
    cases = []
    for name, tmpl, bos, eos, fmt_name, has_system in templates:
        t = env.from_string(tmpl)
        for conv_name, msgs in CONVERSATIONS.items():
            if not has_system and msgs[0]["role"] == "system":
                continue
            for gen in (True, False):
                case = {"template_name": name, "conversation": conv_name, "format": fmt_name,
                        "bos": bos, "eos": eos, "add_generation_prompt": gen, "messages": msgs}
                try:
                    case["expected"] = t.render(messages=msgs, add_generation_prompt=gen,
                                                bos_token=bos, eos_token=eos)
                    case["error"] = False
                except jinja2.exceptions.TemplateError:
                    case["expected"] = ""
                    case["error"] = True
                cases.append(case)
    doc = {
        "generator": "scripts/gen_chat_testdata.py (jinja2 %s, HF transformers' environment)"
                     % jinja2.__version__,
        "templates": {name: tmpl for name, tmpl, *_ in templates},
        "cases": cases,
    }
    out = os.path.join(ROOT, "tests/data/chat_templates.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %d cases over %d templates to %s" % (len(cases), len(templates), out))


if __name__ == "__main__":
    main()

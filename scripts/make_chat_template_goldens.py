#!/usr/bin/env python3
"""Writes the goldens of kiln's chat template tests (tests/data/chat_template/) with Python jinja2.

Templates are rendered the way HF transformers renders them (`_compile_jinja_template`):
jinja2's ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols
extension, the `raise_exception` and `strftime_now` globals, HF's `tojson` filter
(ensure_ascii=False, no key sorting) and a `{% generation %}` tag that renders its body.

  scripts/make_chat_template_goldens.py             # models in $KILN_MODELS or ~/.cache/kiln/models

Outputs:
  <model>.json     the model's template, its bos/eos tokens, and conversations rendered with it.
                   The template comes from the GGUF's `tokenizer.chat_template`, read with the
                   `gguf` package. A model file without one (gemma-3-270m's GGUF ships none) uses
                   <model>.jinja from this folder, recorded as "template_source": "file".
  features.json    language-feature cases (template, variables, expected output or error).
"""
import datetime
import json
import os
import sys
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "chat_template"

MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}


class GenerationTag(jinja2.ext.Extension):
    """HF's AssistantTracker without the tracking: `{% generation %}` renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(format):
    return datetime.datetime.now().strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(source, variables):
    """{"output": text} or {"error": message}."""
    try:
        return {"output": environment().from_string(source).render(**variables)}
    except jinja2.exceptions.TemplateError as e:  # syntax errors, raise_exception, undefined
        return {"error": str(e)}
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError) as e:
        return {"error": f"{type(e).__name__}: {e}"}


# ---- models ----

CONVERSATIONS = {
    "system_user_assistant_user": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
        {"role": "user", "content": "And of Italy?"},
    ],
    "user_assistant_user": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
        {"role": "user", "content": "And of Italy?"},
    ],
    "single_user": [
        {"role": "user", "content": "Hello!"},
    ],
    # Whitespace around content (Gemma trims it, Unicode spaces included), non-ASCII text,
    # newlines and characters that mean something to templates.
    "whitespace_unicode": [
        {"role": "system", "content": "\n  Be kind. {{ not a tag }} {% neither %}\n"},
        {"role": "user", "content": "  H\u00e9llo, w\u00f6rld! \U0001F44B\n\n"},
        {"role": "assistant", "content": "\tSure thing.\u00a0\u2003\n"},
        {"role": "user", "content": "\u3000line one\nline two\u00a0"},
    ],
    # Two user turns in a row: Gemma's template raises, SmolLM2's renders.
    "user_user": [
        {"role": "user", "content": "One."},
        {"role": "user", "content": "Two."},
    ],
}


def metadata_string(reader, key):
    field = reader.fields.get(key)
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def token_text(reader, key):
    field = reader.fields[key]
    token_id = int(field.parts[field.data[0]][0])
    tokens = reader.fields["tokenizer.ggml.tokens"]
    return bytes(tokens.parts[tokens.data[token_id]]).decode("utf-8")


def model_goldens(name, path):
    import gguf  # only needed for the models

    reader = gguf.GGUFReader(str(path))
    template = metadata_string(reader, "tokenizer.chat_template")
    source = "gguf"
    if template is None:
        source = "file"
        template = (DATA / f"{name}.jinja").read_text(encoding="utf-8")
    bos = token_text(reader, "tokenizer.ggml.bos_token_id")
    eos = token_text(reader, "tokenizer.ggml.eos_token_id")
    cases = []
    for conversation, messages in CONVERSATIONS.items():
        for add_generation_prompt in (True, False):
            variables = {"messages": messages, "add_generation_prompt": add_generation_prompt,
                         "bos_token": bos, "eos_token": eos}
            case = {"conversation": conversation, "messages": messages,
                    "add_generation_prompt": add_generation_prompt}
            case.update(render(template, variables))
            cases.append(case)
    return {"model_file": path.name, "template_source": source, "template": template,
            "bos_token": bos, "eos_token": eos, "cases": cases}


# ---- language features ----

MESSAGES = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "  hi  "},
    {"role": "assistant", "content": "hello", "tool_calls": [{"name": "f", "arguments": {"x": 1}}]},
]

# (name, template, variables); the variables default to {"messages": MESSAGES}.
FEATURES = [
    # text, expressions, comments
    ("text", "plain text\nline two", None),
    ("trailing_newline_dropped", "a\n", None),
    ("two_trailing_newlines", "a\n\n", None),
    ("crlf", "a\r\nb\rc", None),
    ("print_literals", "{{ 'a' }}|{{ \"b\" }}|{{ 1 }}|{{ 1.5 }}|{{ true }}|{{ false }}|{{ none }}|{{ True }}|{{ None }}", None),
    ("print_collections", "{{ [1, 'a', none, true, 2.0] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 2) }} {{ (1,) }} {{ () }}", None),
    ("string_escapes", r"{{ 'a\nb\tc\\d\'e\"f' }}|{{ '\x41\u00e9\U0001F600' }}|{{ 'it''s' }}", None),
    ("string_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\t'] }}", None),
    ("float_repr", "{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 1.5e-5 }} {{ 0.0001 }} {{ 2.5e3 }} {{ 10 / 4 }} {{ 1 / 3 }} {{ -0.0 }}", None),
    ("comment", "a{# a comment #}b{# multi\nline #}c", None),
    ("variables", "{{ name }} {{ missing }}|{{ nested.key }}", {"name": "kiln", "nested": {"key": "v"}}),
    ("attribute_and_item", "{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages[-1].role }} {{ messages[5] }}|{{ messages.0.role }}", None),
    ("dict_method_vs_key", "{{ d.items() | list }} {{ d['items'] }} {{ d.get('x') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }}", {"d": {"items": 1, "x": 2}}),
    # whitespace control
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", None),
    ("lstrip_blocks", "  {% if true %}\n  yes\n  {% endif %}\nafter", None),
    ("lstrip_not_for_variables", "  {{ 'x' }}\n", None),
    ("lstrip_only_blank_prefix", "a {% if true %}b{% endif %}", None),
    ("strip_markers", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c", None),
    ("variable_strip_markers", "a   {{- 'b' -}}   c", None),
    ("plus_markers", "  {%+ if true %}x{% endif +%}\nz", None),
    ("comment_whitespace", "a\n  {# c #}\nb\n{#- d -#}\n  c", None),
    ("raw_block", "{% raw %}{{ not evaluated }}{% if %}{% endraw %}", None),
    ("lstrip_after_expression", "{{ 'a' }}  {% if true %}b{% endif %}\n  {% if true %}c{% endif %}", None),
    # operators
    ("arithmetic", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ 7 / 2 }} {{ -3 }} {{ +3 }} {{ 1.5 * 2 }} {{ 5.5 // 2 }} {{ -5.5 % 2 }}", None),
    ("bool_arithmetic", "{{ true + 1 }} {{ true * 3 }} {{ false - 1 }}", None),
    ("string_ops", "{{ 'a' + 'b' }} {{ 'ab' * 3 }} {{ 2 * 'x' }} {{ 'n' ~ 1 ~ none ~ true ~ undefined_thing }} {{ [1] + [2, 3] }} {{ [0] * 3 }}", None),
    ("concat_precedence", "{{ 1 ~ 2 + 3 if false else 'x' ~ 1 * 2 }}", None),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' != 'a' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ none == none }}", None),
    ("in_operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 3 not in [1] }} {{ 'x' in undefined_thing }}", None),
    ("logic", "{{ true and false }} {{ true or false }} {{ not true }} {{ not none }} {{ 0 or 'fallback' }} {{ 'first' and 'second' }} {{ '' and 'x' }}|{{ none or [] }}", None),
    ("conditional_expression", "{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'x' if false }}] {{ 'a' if false else 'b' if true else 'c' }}", None),
    ("precedence_not_in", "{{ not 'a' in 'abc' }} {{ not 1 == 2 }} {{ -2 ** 2 }}", None),
    # if / for
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %} {% endfor %}", None),
    ("for_loop_variables", "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}", None),
    ("for_previtem_nextitem", "{% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }};{% endfor %}", None),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}x{% else %}empty{% endfor %}", None),
    ("for_filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}:{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}", None),
    ("for_items_unpacking", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}{% for (a, b) in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_over_dict_and_string", "{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}|{% for c in 'héllo' %}{{ c }}.{% endfor %}", None),
    ("for_nested_loop", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }} {% endfor %}", None),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", None),
    ("range", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }} {{ range(0) | list }}", None),
    # scoping and set
    ("set", "{% set x = 1 %}{% set y = x + 1 %}{{ x }}{{ y }}{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}", None),
    ("set_in_loop_does_not_leak", "{% set x = 'outer' %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}[{{ x }}]{% endfor %}{{ x }}", None),
    ("set_in_if_leaks", "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}", None),
    ("namespace", "{% set ns = namespace(found=false, count=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.found }} {{ ns.count }}", None),
    ("namespace_print", "{% set ns = namespace(a=1) %}{{ ns.a }} {{ ns.missing is defined }}", None),
    ("set_block", "{% set block %}\n  text {{ 1 + 1 }}\n{% endset %}[{{ block }}]{% set up | upper %}abc{% endset %}{{ up }}", None),
    # macros
    ("macro", "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }} {{ greet() }}", None),
    ("macro_recursion", "{% macro count(n) %}{{ n }}{% if n > 0 %},{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(5) }}", None),
    ("macro_sees_globals", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ messages | length }}{% endmacro %}{{ m() }}", None),
    ("generation_scope", "{% set x = 'outer' %}{% generation %}{% set x = 'inner' %}[{{ x }}]{% endgeneration %}{{ x }}", None),
    ("filter_block", "{% filter upper %}abc {{ 'def' }}{% endfilter %}", None),
    ("generation_tag", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}", None),
    # filters
    ("filter_trim", "[{{ '  a b \n' | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ '\u00a0\u3000wide\u2003' | trim }}]", None),
    ("filter_case", "{{ 'hello World' | upper }} {{ 'Hello World' | lower }} {{ 'hello WORLD' | capitalize }} {{ 'hello wORLD-foo (bar) [baz]' | title }}", None),
    ("filter_length", "{{ 'héllo' | length }} {{ [1, 2] | length }} {{ {'a': 1} | length }} {{ undefined_thing | length }} {{ [1, 2, 3] | count }}", None),
    ("filter_tojson", "{{ messages | tojson }}|{{ 'é\"\\n<>&' | tojson }}|{{ [1, 2.5, none, true] | tojson }}|{{ {'b': 1, 'a': [], 'c': {}} | tojson }}", None),
    ("filter_tojson_indent", "{{ {'a': [1, {'b': none}], 'e': [], 'f': {}} | tojson(indent=2) }}", None),
    ("filter_string", "{{ 1 | string }}{{ none | string }}{{ [1, 'a'] | string }}{{ undefined_thing | string }}", None),
    ("filter_join", "{{ [1, 2, 3] | join(', ') }} {{ ['a', 'b'] | join }} {{ messages | join('|', attribute='role') }} {{ 'abc' | join('-') }}", None),
    ("filter_default", "{{ undefined_thing | default('dflt') }} {{ '' | default('empty') }} {{ '' | default('empty', true) }} {{ 'set' | d('x') }} {{ none | default('n') }} [{{ undefined_thing | default }}]", None),
    ("filter_first_last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ 'abc' | last }} {{ {'x': 1, 'y': 2} | first }} [{{ [] | first }}]", None),
    ("filter_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}", None),
    ("filter_items_list", "{{ {'a': 1, 'b': 2} | items | list }} {{ 'ab' | list }} {{ {'k': 1} | list }} {{ (1, 2) | list }}", None),
    ("filter_int_float", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ true | int }} {{ '0x1A' | int(base=16) }} {{ '2.5' | float }} {{ 'nan?' | float }} {{ 3 | float }}", None),
    ("filter_chain_and_abs", "{{ -3 | abs }} {{ ' Ab ' | trim | lower | capitalize }} {{ [3, 1] | reverse | list }} {{ 'abc' | reverse }}", None),
    ("filter_indent", "{{ 'a\nb\n\nc' | indent }}|{{ 'a\nb\n\nc\n' | indent(2, first=true, blank=true) }}|{{ {'a': [1, {'b': 2}]} | tojson(indent=4) | indent(2) }}|{{ 'x' | indent('>>', true) }}", None),
    ("filter_select_map", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | join(',') }} {{ [0, 1, 2, '', 'x'] | select | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ ['a', 'b'] | map('upper') | list }} {{ messages | selectattr('tool_calls', 'defined') | list | length }}", None),
    # tests
    ("tests", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ 'a' is number }} {{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ 1 is sequence }} {{ 'a' is equalto 'a' }} {{ 1 is eq(2) }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ x is not none }} {{ true is boolean }} {{ 1 is integer }} {{ 1.0 is float }} {{ 'ab' is lower }} {{ 2 is in [1, 2] }} {{ 3 is gt 2 }}", {"x": 1}),
    # string methods
    ("string_methods", "[{{ '  a  '.strip() }}] [{{ '  a  '.lstrip() }}] [{{ '  a  '.rstrip() }}] [{{ 'xxaxx'.strip('x') }}] {{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'a,b,,c'.split(',') }} {{ ' a  b \n c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ 'aXa'.replace('a', 'b') }} {{ \"they're 1st o'neil\".title() }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ '-'.join(['a', 'b']) }} {{ 'aBC'.capitalize() }}", None),
    ("content_strip_chain", "{% for m in messages %}[{{ m.content.strip() }}]{{ m['content'] | trim | length }}{% endfor %}", None),
    # slicing
    ("slicing", "{{ 'abcdef'[::-1] }} {{ 'abcdef'[1:] }} {{ 'abcdef'[:2] }} {{ 'abcdef'[1:5:2] }} {{ [1, 2, 3, 4][1:] }} {{ [1, 2, 3, 4][::-1] }} {{ [1, 2, 3, 4][-2:] }} {{ [1, 2, 3][5:] }} {{ 'héllo'[1:3] }} {{ (1, 2, 3)[:2] }} {{ [1, 2, 3, 4, 5][4:0:-2] }} {{ messages[1:] | length }}", None),
    ("percent_format", "{{ '%s has %d items (%5.2f%%) [%-4s|%04d] %r' % ('list', 3, 12.345, 'ab', 7, 'q') }}|{{ 'one %s' % 'arg' }}", None),
    ("strftime_now", "{{ strftime_now('%Y') | length }} {{ strftime_now is defined }}", None),
    ("unicode_names_and_trailing_comment", "{% set café = 'crème' %}{{ café }}{#", None),
    ("dict_literal_and_dict", "{{ {'a': 1, 'b': {'c': [1, 2]}}['b']['c'][1] }} {{ dict(a=1, b='x') }}", None),
    ("loop_over_messages_pattern", "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}default{% endif %}<|{{ message['role'] }}|>{{ message['content'] }}{% if not loop.last %}\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}", {"messages": MESSAGES, "add_generation_prompt": True}),
    # errors jinja2 raises
    ("raise_exception", "{% if true %}{{ raise_exception('Roles must alternate!') }}{% endif %}", None),
    ("error_undefined_attribute", "{{ missing.attr }}", None),
    ("error_type", "{{ 'a' + 1 }}", None),
    ("error_division", "{{ 1 / 0 }}", None),
    ("error_unpack", "{% for a, b in [(1, 2, 3)] %}{% endfor %}", None),
    ("error_syntax_unclosed", "line1\n{% if true %}\nno end", None),
    ("error_syntax_bad_expression", "ok\n\n{{ 1 + }}", None),
    ("error_unknown_tag", "{% frobnicate %}", None),
    ("error_range_too_big", "{% for i in range(1000000) %}{% endfor %}", None),
]


def feature_goldens():
    cases = []
    for name, template, variables in FEATURES:
        if variables is None:
            variables = {"messages": MESSAGES}
        case = {"name": name, "template": template, "variables": variables}
        case.update(render(template, variables))
        cases.append(case)
    return cases


def write_json(path, value):
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"make_chat_template_goldens: wrote {path.relative_to(ROOT)}", file=sys.stderr)


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    write_json(DATA / "features.json",
               {"generator": f"jinja2 {jinja2.__version__}", "cases": feature_goldens()})
    models = Path(os.environ.get("KILN_MODELS") or Path.home() / ".cache" / "kiln" / "models")
    for name, file_name in MODELS.items():
        path = models / file_name
        if not path.exists():
            print(f"make_chat_template_goldens: {path} is missing; run scripts/fetch-models.py",
                  file=sys.stderr)
            return 1
        write_json(DATA / f"{name}.json", model_goldens(name, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())

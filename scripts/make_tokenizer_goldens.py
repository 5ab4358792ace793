#!/usr/bin/env python3
"""Makes the tokenizer parity goldens in tests/data/tokenizer/ with llama.cpp as the reference.

For each model (and for SmolLM2's vocabulary re-labelled with other pre-tokenizers, which
exercises every pre-tokenizer regex kiln knows on a real vocabulary) it records the token ids
llama-cpp-python gives for every text of the corpus, with special-token text parsed and no BOS;
the ids where parsing special tokens is off and they differ; and the detokenized text where it
is not the input.

    pip install llama-cpp-python gguf   # the reference and the GGUF writer
    scripts/make_tokenizer_goldens.py [--models DIR] [--out tests/data/tokenizer]

The corpus is written too (corpus.json): texts that are not valid UTF-8 are stored as hex.
"""

import argparse
import ctypes
import hashlib
import json
import os
import random
import sys
import tempfile
import unicodedata
from pathlib import Path

import gguf
import llama_cpp

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3 = "gemma-3-270m-q4_k_m.gguf"

# Pre-tokenizers checked on SmolLM2's vocabulary, one per distinct pattern list kiln has
# (the file's own, "smollm", is checked as the model itself).
PRE_VARIANTS = ["default", "gpt-2", "llama-bpe", "dbrx", "qwen2", "falcon", "gpt-4o", "tekken",
                "deepseek-coder", "deepseek-v3"]


def corpus() -> list:
    """Texts as str (valid UTF-8) or bytes (anything else); at least 300."""
    texts = [
        # Plain prose.
        "Hello world",
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
        "A journey of a thousand miles begins with a single step.",
        "To be, or not to be, that is the question.",
        "Machine learning compilers turn tensor programs into fast kernels.",
        "She sells sea shells by the sea shore; the shells she sells are surely seashells.",
        "In 1969, Apollo 11 landed on the Moon.",
        "e.g. i.e. etc. Mr. Smith vs. Dr. Jones",
        "Once upon a time, in a land far, far away, there lived a king.",
        "He said: \"It's fine.\" She replied: 'No, it isn't!'",
        "What?! Really?? No way!!!",
        "Item 1; item 2; item 3 -- and so on...",
        "lowercase UPPERCASE CamelCase snake_case kebab-case SCREAMING_SNAKE",
        "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
        "supercalifragilisticexpialidocious",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababababababab",
        # Contractions, in every case and with other apostrophes.
        "I'm you're they've we'll he'd it's don't can't won't",
        "I'M YOU'RE THEY'VE WE'LL HE'D IT'S DON'T",
        "I'm, 'tis, y'all, o'clock, rock 'n' roll",
        "'s 't 're 've 'm 'll 'd",
        "'S 'T 'RE 'VE 'M 'LL 'D",
        "it\u2019s they\u2019re I\u2019ll",
        "Don'T We'Ll She'S",
        "' '' ''' 'a' \"quoted\"",
        "the cat's toy, the cats' toys",
        # Code.
        "def add(a, b):\n    return a + b\n",
        "for (int i = 0; i < n; ++i) {\n\tsum += x[i] * y[i];\n}\n",
        "#include <stdio.h>\n\nint main(void) {\n    printf(\"hello\\n\");\n    return 0;\n}\n",
        "const f = (x) => x ** 2; // square\nconsole.log(f(12));",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}",
        "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name ORDER BY 2 DESC;",
        "{\"key\": \"value\", \"list\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
        "<html><body><div class=\"x\">Hi</div></body></html>",
        "if x == 0:\n\tpass\nelif x != 1:\n\t\tprint('tabs')\nelse:\n        print(\"spaces\")",
        "ls -la | grep -v '^d' > out.txt 2>&1 && echo $?",
        "x += 1; y -= 2; z *= 3; w /= 4; a %= 5; b <<= 1; c >>= 2; d &= e; f |= g; h ^= i;",
        "arr[i][j] = (a && b) || (!c && d != e);",
        "template <typename T> struct Box { T value; };",
        "@decorator\nclass Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n    __slots__ = ()\n",
        "    indented four\n        indented eight\n            twelve",
        "\tone tab\n\t\ttwo tabs\n\t\t\tthree tabs",
        "# Heading\n\n* bullet one\n* bullet two\n\n1. first\n2. second\n",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "```python\nprint('hi')\n```",
        "a<=b a>=b a==b a!=b a=>b a->b a::b a..b a...b",
        "~/path/to/file.txt C:\\Windows\\System32 /usr/local/bin",
        "https://example.com/path?query=1&other=two#frag",
        "user@example.com, first.last+tag@sub.domain.org",
        "$100 + $200 = $300; 50% off; #hashtag @mention",
        "^caret ~tilde |pipe| `backtick` \\backslash",
        "((((nested)))) [[[[brackets]]]] {{{{braces}}}}",
        "----- ===== _____ ***** ##### ~~~~~ .....",
        # Whitespace.
        " ",
        "  ",
        "   ",
        "    ",
        " " * 7,
        " " * 16,
        " " * 31,
        " " * 32,
        " " * 40,
        " " * 100,
        "\t",
        "\t\t",
        "\t" * 10,
        "\n",
        "\n\n",
        "\n\n\n",
        "\n" * 12,
        "\n" * 40,
        "\r\n",
        "\r\n\r\n",
        "\r",
        " \n ",
        "\n \n \n",
        " \t \t ",
        "\t \n \t",
        "  leading spaces",
        "trailing spaces  ",
        "  both  ",
        "word  two   three    four     five",
        "word\ttab\t\tdouble",
        "line one\nline two\n\nline four",
        "line\r\nwindows\r\nendings",
        "end with newline\n",
        "a \n b",
        "x    \n    y",
        "text     ",
        "     text",
        "a\u00a0b non-breaking",
        "ideographic\u3000space",
        "thin\u2009space and hair\u200aspace",
        "next\u0085line",
        "line\u2028separator and para\u2029graph",
        "\u00a0\u00a0\u00a0",
        "zero\u200bwidth space",
        "form\x0cfeed and vertical\x0btab",
        "\x1c\x1d\x1e\x1f separators",
        "mixed \t\n\r\x0b\x0c whitespace",
        "\u3000\u3000indent",
        "a  \u180e b and x \u180eg (U+180E is no space)",
        " \u2028x  \u2029 \u3000\u3000y",
        # Numbers.
        "0",
        "1",
        "12",
        "123",
        "1234",
        "12345",
        "123456789",
        "1234567890123456789012345678901234567890",
        "3.14159265358979323846",
        "1,000,000",
        "1 000 000",
        "-42",
        "+7",
        "0x1F 0b1010 0o777",
        "1e-10 6.022e23",
        "2024-01-15T12:34:56Z",
        "12:30pm",
        "v1.2.3",
        "192.168.0.1",
        "+1 (555) 123-4567",
        "room 101, floor 2, building 3",
        "1st 2nd 3rd 4th 21st 100th",
        "abc123def456",
        "x1y22z333w4444",
        "\uff11\uff12\uff13 fullwidth digits",
        "\u0663\u0664\u0665 arabic-indic",
        "\u0967\u0968\u0969 devanagari digits",
        "x\u00b2 + y\u00b3 = z\u00b9",
        "\u00bd \u00bc \u00be fractions",
        "\u2160 \u2161 \u216b roman",
        "\u2460\u2461\u2462 circled",
        "9" * 60,
        "3" * 200,
        "10 20 30 40 50 60 70 80 90 100",
        "3.0 vs 3,0 vs 3'000",
        "7\u20448",
        # CJK.
        "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
        "\u4eba\u5de5\u667a\u80fd\u6b63\u5728\u6539\u53d8\u4e16\u754c\u3002",
        "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8",
        "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c",
        "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3068\u6f22\u5b57",
        "\u6771\u4eac\u90fd\u6e0b\u8c37\u533a 1-2-3",
        "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",
        "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4.",
        "Mixed \u4e2d\u6587 and English \u65e5\u672c\u8a9e text",
        "\u4e2d\u6587123\u6570\u5b57",
        "\uff08\u5168\u89d2\u62ec\u5f27\uff09\u300c\u5f15\u7528\u300d\u3010\u6807\u9898\u3011",
        "\u3000\u4e2d\u6587\u3000\u7a7a\u683c\u3000",
        "\u9f8d\u9f98\u9f49",
        "\U00020000\U0002a6d6 ext-B",
        # Other scripts.
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
        "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
        "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
        "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
        "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
        "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
        "\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd \u0b89\u0bb2\u0b95\u0bae\u0bcd",
        "\u09b9\u09cd\u09af\u09be\u09b2\u09cb \u09ac\u09bf\u09b6\u09cd\u09ac",
        "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0",
        "\u0532\u0561\u0580\u0565\u0582 \u0561\u0577\u056d\u0561\u0580\u0570",
        "\u1230\u120b\u121d \u12d3\u1208\u121d",
        "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u",
        "Stra\u00dfe \u00fcber \u00e4rger \u00f6l",
        "\u0130stanbul \u0131\u0131 \u0130\u0130 i\u0307",
        "na\u00efve caf\u00e9 r\u00e9sum\u00e9 fa\u00e7ade",
        "\u017dlu\u0165ou\u010dk\u00fd k\u016f\u0148",
        "\u0141\u00f3d\u017a \u017c\u00f3\u0142\u0107",
        "\u00c5ngstr\u00f6m \u00d8resund \u00e6ble",
        "\u0928\u093f\u0930\u094d\u092e\u093e\u0923 \u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f",
        "\u0627\u0644\u0639\u064e\u0631\u064e\u0628\u0650\u064a\u064e\u0651\u0629",
        "\u1e9b\u0323 \u1e69",
        # Emoji.
        "\U0001f600",
        "\U0001f600\U0001f603\U0001f604\U0001f601",
        "I love \U0001f355 and \U0001f32e!",
        "\U0001f44d\U0001f3fd thumbs up medium",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
        "\U0001f3f3\ufe0f\u200d\U0001f308 rainbow flag",
        "\U0001f1fa\U0001f1f8 \U0001f1ef\U0001f1f5 \U0001f1eb\U0001f1f7 flags",
        "1\ufe0f\u20e3 2\ufe0f\u20e3 keycaps",
        "\u2764\ufe0f \u26a0\ufe0f \u2705",
        "\U0001f9d1\u200d\U0001f4bb coder",
        "\U0001f469\U0001f3fe\u200d\U0001f680 astronaut",
        "\U0001fae0 melting",
        "\U0001f525" * 10,
        "emoji\U0001f680in\U0001f30dwords",
        "\u2600\u2601\u2602\u2603",
        "\u263a\ufe0e text style",
        # Combining marks.
        "e\u0301",
        "e\u0301\u0302\u0303\u0304",
        "a\u0300 e\u0301 i\u0302 o\u0303 u\u0308",
        "\u00e9 vs e\u0301",
        "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
        "\u0915\u093f \u0915\u0940 \u0915\u0941",
        "\u0301 leading combining mark",
        "\u20dd enclosing circle",
        "q\u0307\u0323",
        "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd",
        # Special-token text (of SmolLM2, Gemma 3 and others).
        "<|im_start|>",
        "<|im_end|>",
        "<|endoftext|>",
        "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>",
        "<|im_start|><|im_end|>",
        "<|im_start|><|im_start|>",
        "text<|endoftext|>more text",
        " <|im_start|> spaced <|im_end|> ",
        "<|im_start",
        "<|im_start|",
        "|im_start|>",
        "<<|im_start|>>",
        "<|im_start|><|im_end|><|endoftext|>",
        "<repo_name>kiln<file_sep>src/main.cpp<filename>x",
        "<reponame> <gh_stars>100 <issue_start> <jupyter_code>",
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
        "<bos>",
        "<eos>",
        "<pad><unk><mask>",
        "<bos>Hello<eos>",
        "<start_of_image>",
        "<start_of_image><end_of_image>",
        "[multimodal]",
        "<unused0><unused99><unused6241>",
        "<unused6242>",
        "<s>Hello</s>",
        "<b>bold</b> <i>italic</i> <u>under</u>",
        "<table><tr><td>1</td><td>2</td></tr></table>",
        "<h1>Title</h1><blockquote>quote</blockquote>",
        "<code>x = 1</code>",
        "<div><span>nested</span></div>",
        "<tablex> <tr > < td>",
        "<|eot_id|> <|start_header_id|>",
        "<end_of_turn><start_of_turn>",
        "<0x0A> <0xFF> literal byte tokens",
        "\u0120hello \u010a newline chars",
        "\u2581hello \u2581\u2581world",
        "[INST] hi [/INST]",
        "<|im_start|>user\n\n\n  spaced  <|im_end|>",
        # Single characters and odds.
        "a",
        "A",
        ".",
        "!",
        "?",
        "-",
        "_",
        "\\",
        "\"",
        "'",
        "\x00",
        "a\x00b",
        "\x01\x02\x03\x07\x1b",
        "\x7f",
        "\u00ad soft hyphen",
        "\ufeffBOM at start",
        "\ufffd replacement char",
        "\ue000\uf8ff private use",
        "\u017f long s and \u212a kelvin",
        "\ufb01 ligature \ufb02",
        "\u2211 \u222b \u221a \u221e \u2260 \u2264",
        "\u250c\u2500\u2510\n\u2502x\u2502\n\u2514\u2500\u2518",
        "\u2800\u2801\u2802 braille",
        "\U0001d11e music",
        "\U00010330\U00010331 gothic",
        "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522",
        "\u00ab guillemets \u00bb \u201csmart\u201d \u2018quotes\u2019",
        "em\u2014dash en\u2013dash",
        "\u2026 ellipsis",
        "\u00a9 \u00ae \u2122",
        "\u20ac100 \u00a350 \u00a51000 \u20b9",
        "\u00bf\u00a1Spanish!?",
        "\u0e3f \u20bf",
        # Long texts.
        "The tokenizer splits text into pieces. " * 20,
        "word " * 100,
        "abc" * 300,
        "=" * 200,
        "-" * 80 + "\n" + "=" * 80,
        ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
         "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.\n\n") * 3,
        "\u4e2d\u6587" * 100,
        "\U0001f600 " * 50,
        "Mixed 123 \u4e2d\u6587 \U0001f600 \u0645\u0631\u062d\u0628\u0627 <|im_start|> \t\n end",
    ]
    # Bytes that are not UTF-8: how the reference reads them decides what kiln must match.
    texts += [
        b"\xff",
        b"\x80",
        b"\xfe\xfe\xff\xff",
        b"abc\xffdef",
        b"\xc3",
        b"\xc3\x28",
        b"\xe2\x82",
        b"\xe2\x82\x28",
        b"\xe2\x82 x",
        b"\xf0\x9f\x98",
        b"\xf0\x9f\x98 tail",
        b"\xed\xa0\x80 surrogate",
        b"\xed\xbf\xbf",
        b"\xc0\xaf overlong",
        b"\xe0\x80\xaf",
        b"\xf8\x88\x80\x80\x80",
        b"hello \xff world",
        b"\xe4\xb8\xad\xe4\xb8\xe6\x96\x87",
        b"\x80\x80\x80",
        b"\xc3\xa9\xc3",
        b"ok\xc3\xa9\xe2\x82",
        b"\xe2\x82\xac\xe2\x82\xac\xe2\x82",
        b"  \xff  \xfe  ",
        b"<|im_start|>\xff<|im_end|>",
        b"\xf0\x9f\x98\x80\xf0\x9f\x98",
        b"12\xff34",
        b"\xa0\xa1\xa2",
        b"\xc2",
        b"\xdf\xbf\xdf",
        b"\xef\xbf\xbd\xef\xbf",
    ]
    texts += random_texts(random.Random(20240515), 70)
    return texts


def random_texts(rng: random.Random, count: int) -> list:
    """Texts drawn from a pool of words, digits, spaces, punctuation and other scripts."""
    pool = [
        "the", "The", "hello", "world", "token", "kiln", "GPU", "don't", "it's", "I'LL", "we're",
        "0", "7", "42", "123", "2024", "3.14", "1000000", "-1", " ", "  ", "   ", "\t", "\n",
        "\n\n", "\r\n", ".", ",", "!", "?", ";", ":", "...", "(", ")", "[", "]", "{", "}", "<",
        ">", "/", "\\", "'", "\"", "`", "~", "|", "^", "$", "%", "&", "*", "+", "-", "=", "_",
        "#", "@", "\u4e2d\u6587", "\u65e5\u672c", "\ud55c\uad6d", "\u0645\u0631\u062d\u0628\u0627",
        "\u041c\u043e\u0441\u043a\u0432\u0430", "\u00e9", "e\u0301", "\u00fc", "\u00df",
        "\U0001f600", "\U0001f44d\U0001f3fd", "\u2764\ufe0f",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u00a0", "\u3000", "<|im_start|>",
        "<|im_end|>", "<end_of_turn>", "<b>", "</b>", "\u0120", "\u2581",
    ]
    texts = []
    for _ in range(count):
        n = rng.randint(1, 24)
        text = "".join(rng.choice(pool) for _ in range(n))
        # Now and then a few random assigned code points of any script.
        for _ in range(rng.randint(0, 3)):
            while True:
                cpt = rng.choice([rng.randint(0x20, 0x2FF), rng.randint(0x370, 0x1FFF),
                                  rng.randint(0x2000, 0x2BFF), rng.randint(0x3000, 0xD7FF),
                                  rng.randint(0xF900, 0xFFEF), rng.randint(0x10000, 0x1FAFF)])
                if unicodedata.category(chr(cpt)) not in ("Cn", "Cs", "Co"):
                    break
            pos = rng.randint(0, len(text))
            text = text[:pos] + chr(cpt) + text[pos:]
        texts.append(text)
    return texts


def as_bytes(text) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def write_vocab_variant(source: Path, pre: str, path: Path) -> None:
    """Writes a GGUF with the metadata of `source` (no tensors) and tokenizer.ggml.pre = `pre`."""
    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(path), arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = pre if key == "tokenizer.ggml.pre" else field.contents()
        vtype = gguf.GGUFValueType(field.types[0])
        sub_type = gguf.GGUFValueType(field.types[-1]) if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, vtype, sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()


def detokenize(llm, ids: list) -> bytes:
    """llama_detokenize with special tokens rendered, into a buffer that is large enough."""
    size = 64 + 64 * len(ids)
    while True:
        buffer = ctypes.create_string_buffer(size)
        tokens = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
        n = llama_cpp.llama_detokenize(llm._model.vocab, tokens, len(ids), buffer, size, False, True)
        if n >= 0:
            return buffer.raw[:n]
        size = -n + 16


def reference_goldens(model_path: Path, texts: list, model_name: str, pre_override) -> dict:
    llm = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    ids, ids_without_special, detokenized = [], {}, {}
    for index, text in enumerate(texts):
        data = as_bytes(text)
        with_special = llm.tokenize(data, add_bos=False, special=True)
        without_special = llm.tokenize(data, add_bos=False, special=False)
        ids.append(" ".join(map(str, with_special)))
        if without_special != with_special:
            ids_without_special[str(index)] = " ".join(map(str, without_special))
        back = detokenize(llm, with_special)
        if back != data:
            detokenized[str(index)] = {"hex": back.hex()}
    return {
        "made_by": "scripts/make_tokenizer_goldens.py",
        "reference": f"llama-cpp-python {llama_cpp.__version__}",
        "model": model_name,
        "model_sha256": sha256(model_path) if pre_override is None else None,
        "pre_override": pre_override,
        "add_bos": False,
        "ids": ids,
        "ids_without_special": ids_without_special,
        "detokenized": detokenized,
    }


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, data: dict) -> None:
    # One corpus entry per line keeps the files diffable.
    lines = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if isinstance(value, list) and len(value) > 8:
            body = ",\n    ".join(json.dumps(v, ensure_ascii=False) for v in value)
            lines.append(f"  {json.dumps(key)}: [\n    {body}\n  ]{comma}")
        elif isinstance(value, dict) and len(value) > 8:
            body = ",\n    ".join(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
                                  for k, v in value.items())
            lines.append(f"  {json.dumps(key)}: {{\n    {body}\n  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_models = os.environ.get("KILN_MODELS") or str(Path.home() / ".cache/kiln/models")
    parser.add_argument("--models", default=default_models, help="folder holding the GGUF models")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent /
                                             "tests/data/tokenizer"))
    args = parser.parse_args()
    models, out = Path(args.models), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    texts = corpus()
    assert len(texts) >= 300, len(texts)
    stored = [t if isinstance(t, str) else {"hex": t.hex()} for t in texts]
    write_json(out / "corpus.json", {"made_by": "scripts/make_tokenizer_goldens.py",
                                     "count": len(texts), "texts": stored})
    print(f"corpus: {len(texts)} texts")

    for name, stem in ((SMOLLM2, "smollm2"), (GEMMA3, "gemma3")):
        path = models / name
        if not path.exists():
            print(f"skipping {name}: not in {models} (scripts/fetch-models.py fetches it)")
            continue
        write_json(out / f"{stem}.json", reference_goldens(path, texts, name, None))
        print(f"{stem}: done")

    if (models / SMOLLM2).exists():
        with tempfile.TemporaryDirectory() as tmp:
            for pre in PRE_VARIANTS:
                variant = Path(tmp) / f"smollm2-{pre}.gguf"
                write_vocab_variant(models / SMOLLM2, pre, variant)
                data = reference_goldens(variant, texts, SMOLLM2, pre)
                data.pop("detokenized")  # the vocabulary, hence detokenizing, is SmolLM2's
                write_json(out / f"smollm2-pre-{pre}.json", data)
                print(f"smollm2 with pre '{pre}': done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

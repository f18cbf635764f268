#!/usr/bin/env python3
"""Writes tests/data/bpe/: test strings and what llama.cpp makes of them with
the GGUF tokenizers wgml implements (src/tokenizer/bpe.h).

    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF \\
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_NATIVE=OFF" \\
      nice -n 19 pip install llama-cpp-python==0.3.36    # compiles llama.cpp
    python3 scripts/gen_bpe_testdata.py

The reference is llama.cpp itself, through llama-cpp-python's ctypes binding
of its C API (llama_tokenize, llama_token_to_piece, llama_detokenize and the
llama_vocab_* queries), with the vocabulary only loaded. The vocabularies are
the files scripts/setup.sh installs: .deps/vocab/ggml-vocab-*.gguf (from the
same llama-cpp-python sdist, llama.cpp's models/ folder) and SmolLM2's GGUF in
.deps/models. One more case, "gpt2-default", is the GPT-2 vocabulary with
tokenizer.ggml.pre = "default" (llama.cpp's fallback pre-tokenizer): the
script writes that file to a temporary folder with gguf-py from the same
sdist, and the C test sets the same pre-tokenizer name on the vocabulary it
reads.

Files (all text):
  strings.txt   one test string per line, as hex of its bytes (so invalid
                UTF-8 and NUL bytes survive); the strings are built here
                deterministically (fixed seeds, nothing from outside)
  <case>.txt    for one vocabulary:
    vocab PATH                the GGUF, relative to the repository root
    pre NAME                  (optional) tokenizer.ggml.pre to use instead
    n_tokens N
    ids BOS EOS EOT SEP PAD MASK FIM_PRE FIM_SUF FIM_MID FIM_PAD FIM_REP FIM_SEP (-1: none)
    add_bos B / add_eos B
    eog ID...                 every id llama_vocab_is_eog accepts
    attr A:COUNT...           llama_vocab_get_attr of every id, run-length encoded
    pieces BLOCK HASH...      FNV-1a 64 over each BLOCK ids' llama_token_to_piece
    pieces_plain BLOCK HASH... (special = true, then false), each piece as
                              4 bytes of length (little-endian) then its bytes
    c I | A | B | DA | DB | DC   per string I of strings.txt:
                              A  ids of llama_tokenize(add_special, parse_special)
                              B  ids of llama_tokenize(no add_special, no parse_special),
                                 "=" when the same as A
                              DA llama_detokenize(A, remove_special=false, unparse_special=true)
                              DB llama_detokenize(B, false, false)
                              DC llama_detokenize(A, remove_special=true, unparse_special=false)
                              each D is "=" when it equals the string, else hex
"""
import ctypes
import os
import random
import shutil
import struct
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "bpe")
VOCAB = ".deps/vocab"
SMOLLM2 = ".deps/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
BLOCK = 4096

# name -> (GGUF relative to the repository root, pre-tokenizer override)
CASES = {
    "gpt2": (f"{VOCAB}/ggml-vocab-gpt-2.gguf", None),
    "gpt2-default": (f"{VOCAB}/ggml-vocab-gpt-2.gguf", "default"),
    "llama3": (f"{VOCAB}/ggml-vocab-llama-bpe.gguf", None),
    "qwen2": (f"{VOCAB}/ggml-vocab-qwen2.gguf", None),
    "llama-spm": (f"{VOCAB}/ggml-vocab-llama-spm.gguf", None),
    "phi3": (f"{VOCAB}/ggml-vocab-phi-3.gguf", None),
    "smollm2": (SMOLLM2, None),
}


# ---------------------------------------------------------------- strings

def lenient_code_points(b):
    """llama.cpp's UTF-8 decoding (unicode_cpts_from_utf8): lead byte by its
    high bits, continuation bytes checked, nothing else; U+FFFD and one byte
    on any failure."""
    out, i = [], 0
    while i < len(b):
        c = b[i]
        need = 0 if c < 0x80 else -1 if c < 0xC0 else 1 if c < 0xE0 else 2 if c < 0xF0 else 3 if c < 0xF8 else -1
        if need == 0:
            out.append(c)
            i += 1
        elif need > 0 and i + need < len(b) and all(0x80 <= x < 0xC0 for x in b[i + 1:i + 1 + need]):
            cp = c & (0x7F >> (need + 1))
            for x in b[i + 1:i + 1 + need]:
                cp = cp << 6 | (x & 0x3F)
            out.append(cp)
            i += need + 1
        else:
            out.append(0xFFFD)
            i += 1
    return out


def llama_cpp_aborts(b):
    """Byte-level BPE in llama.cpp re-encodes the decoded code points and
    throws (uncaught: the process aborts) on one past U+10FFFF, which F4 90..
    and F5..F7 sequences decode to. Such strings are left out of the test
    set; wgml passes their bytes through (tests/test_bpe.c unit)."""
    return any(cp > 0x10FFFF for cp in lenient_code_points(b))


def strings():
    s = []
    add = s.append
    add(b"")
    for t in ["Hello world", "Hello World!", " Hello", "Hello ", "hello,world", "HELLO WORLD",
              "The quick brown fox jumps over the lazy dog.",
              "I'm sure it's fine, isn't it? They're here, we've seen, you'll see, he'd know.",
              "I'M SURE IT'S FINE. THEY'RE HERE, WE'VE SEEN, YOU'LL SEE, HE'D KNOW.",
              "It'S 'tis 'Re 'vE 'M 'Ll 'D", "'s", "'", "''", "' s", "it''s", "rock 'n' roll",
              "don't", "Don'T", "o'clock", "'hello'", "\"quoted\"", "a's b't c're d've e'm f'll g'd"]:
        add(t.encode())
    # whitespace
    for t in [" ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n",
              "\r\n\r\n", "\r", " \n", "\n ", " \n ", "  \n  ", "\t\n", "\n\t", " \t ",
              "a b", "a  b", "a   b", "a    b", "a\tb", "a\t\tb", "a\nb", "a\n\nb", "a \n b",
              "a  \n  b", "a\r\nb", "  leading", "trailing  ", "  both  ", "\tindented",
              "line1\nline2\nline3", "para1\n\npara2", "a \t\n\r b", "x\u00a0y", "x\u3000y",
              "x\u2028y", "x\u0085y", "x\u2009y", "\u00a0\u00a0", "a\x0bb", "a\x0cb",
              " " * 17 + "x", "x" + " " * 17, "\n" * 7 + "x", "   \n\n   \t\t  x  "]:
        add(t.encode())
    # numbers
    for k in range(1, 21):
        add("".join(str((i * 7 + k) % 10) for i in range(k)).encode())
    for t in ["1,234,567.89", "-42", "+3.14159", "1e10", "0x1F", "3/4", "1st 2nd 3rd",
              "v1.2.3", "2024-01-15", "12:30:45", "$100", "100%", " 123", "a1b2c3", "123abc",
              "abc123", "1 2 3", "١٢٣٤٥", "１２３４５", "x²+y³", "Ⅻ chapters", "½ cup",
              "٣.١٤", "۱۲۳", "१२३४", "12345678901234567890123"]:
        add(t.encode())
    # accents, scripts, combining marks
    for t in ["café", "naïve", "Ünïcödé", "cafe\u0301", "e\u0301\u0302\u0303", "Đặng Việt Nam",
              "Ελληνικά γλώσσα", "Русский язык", "עברית", "العربية", "हिन्दी भाषा",
              "ภาษาไทย", "ქართული", "Հայերեն", "ᚠᛇᚻ", "Zürich Straße", "ÅÄÖ åäö", "Ñandú",
              "Œuvre æsthetic", "ﬁnance ﬂow", "İstanbul ıi", "a\u200bb", "a\u200db", "\ufeffbom",
              "\u0301leading mark", "x\u0300\u0301\u0302\u0303\u0304y"]:
        add(t.encode())
    # CJK
    for t in ["你好世界", "我爱北京天安门。", "日本語のテキスト", "カタカナとひらがな", "한국어 텍스트",
              "中文English混合", "「引用」、句読点。", "漢字123", "𠀀𠀁 extension B", "ｈａｌｆ－ｗｉｄｔｈ"]:
        add(t.encode())
    # emoji
    for t in ["😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷🇩🇪", "1️⃣", "❤️", "I ❤️ NY", "emoji😀inside",
              "🤖 robots", "☃", "✓ done ✗ failed", "★☆", "♠♣♥♦", "🏳️‍🌈"]:
        add(t.encode())
    # code
    for t in ["def f(x):\n    return x * 2\n",
              "if (a && b) {\n\tfoo();\n}\n",
              "for (int i = 0; i < n; i++) { sum += a[i]; }",
              "const x = () => { return {a: 1}; };",
              '{"key": "value", "n": [1, 2, 3], "ok": true}',
              "<div class=\"x\">Hello</div>",
              "SELECT * FROM users WHERE id = 42;",
              "https://example.com/path?q=1&r=2#frag",
              "user@example.com", "/usr/local/bin/python3", "C:\\Windows\\System32",
              "x += 1; y -= 2; z *= 3; w /= 4;", "a->b", "a::b", "a==b", "a!=b", "a<=b>=c",
              "#include <stdio.h>", "    ", "\t\tindent\n\t\tmore", "// comment\n/* block */",
              "lambda x: x**2", "np.array([[1, 2], [3, 4]])", "`code`", "~/path", "a|b^c",
              "$HOME and ${VAR}", "@decorator", "print('hi')  # comment"]:
        add(t.encode())
    # punctuation and symbols
    for t in ["!!!", "...", "?!", "--", "==>", "$$$", "<=>", "~|^", "@#%&*", "(a)", "[1]",
              "“quotes” ‘single’", "«guillemets»", "em—dash en–dash", "a.b.c", "end.", "end .",
              "what ?", "wow !", "a , b", "it ' s", " ' ", "x 's", "x 're", "x 't", "¿Qué?",
              "¡Hola!", "§1 ¶2", "©®™", "€£¥₹", "±×÷", "→←↑↓", "∑∏∫", "°C", "…"]:
        add(t.encode())
    # invalid UTF-8 and control bytes
    for t in [b"\x80", b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80",
              b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xe4\xb8", b"\xe4\xb8a", b"a\xe4\xb8",
              b"\xf0\x9f\x98", b"abc\xf0\x9f\x98", b"\xf0\x9f\x98\x80\x80", b"\xf8\x88\x80\x80\x80",
              b"\xc3", b"\xc3(", b"(\xc3)", b"\xa0\xa1", b"hello\x80world", b"caf\xe9",
              b"\x00", b"a\x00b", b"\x01\x02\x03", b"\x1b[31mred\x1b[0m", b"\x7f", b"\x08\x09",
              b"\xef\xbf\xbd", b"\xe2\x96\x81", b"\xe2\x96", b" \xe2\x96\x81 ", b"\xc3\xa9\x80",
              b"\xe4\xb8\xad\xe4", b"\x80\x80\x80abc", b"\xf0\x90\x80", b"\xdf", b"\xef\xbb\xbfbom"]:
        add(t)
    # special-token text, of several vocabularies
    for t in ["<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
              "<|endoftext|>", "a<|endoftext|>b", " <|endoftext|> ", "<s>", "</s>", "<unk>",
              "<s>hello</s>", "<<s>>", "<s><s>", "<|begin_of_text|>", "<|eot_id|>",
              "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
              "<|reserved_special_token_0|>", "<|im_start", "im_start|>", "<|im_start|><|im_start|>",
              "x<|im_end|>y", "<|fim_prefix|>def<|fim_suffix|>\n<|fim_middle|>", "<|file_sep|>",
              "<|repo_name|>", "<|end_of_text|>", "hello<|im_end|>", "<|im_end|> trailing",
              "<|endoftext|><|endoftext|>", "<|END|>", "< s>", "<0x41>", "<0x0A>", "▁", "▁▁x",
              "[INST] hi [/INST]", "<|endoftext|>\n", "<|user|>\n  Hi <|end|>\n<|assistant|>",
              "<s> <unk> </s>  x", "<|endoftext|>  y", " \t<|end|>\t ", "<|im_start|>  <|im_end|>  "]:
        add(t.encode())
    # long texts
    add(("The GGUF format stores a model's tensors and metadata in one file. " * 12).encode())
    add(b"a" * 300)
    add(b"1" * 100)
    add(b" " * 60)
    add(b"\n" * 30)
    add("汉".encode() * 100)
    add("😀".encode() * 40)
    add(b"ab" * 150)
    # random mixtures
    rng = random.Random(20261121)
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * 3 + list("0123456789") * 2
            + [" "] * 15 + ["\n", "\t", "  ", "\r\n"] + list(".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`")
            + list("éèêëàâäôöùûüçñßøåæœ") + list("中文字日本語한국어")
            + ["😀", "👍", "🇫🇷", "❤️", "∑", "€", "\u00a0", "\u3000", "\u0301", "١", "٢"]
            + ["'s", "'t", "'re", "'ll", "'VE"])
    for _ in range(150):
        n = rng.randint(1, 60)
        add("".join(rng.choice(pool) for _ in range(n)).encode())
    rb = random.Random(99)
    for _ in range(30):
        n = rb.randint(1, 24)
        add(bytes(rb.choice([rb.randint(0, 255), rb.randint(0x20, 0x7e), 0x80, 0xc3, 0xe4, 0xf0])
                  for _ in range(n)))
    s = [t for t in s if not llama_cpp_aborts(t)]
    assert len(s) >= 300, len(s)
    return s


# ---------------------------------------------------------------- llama.cpp

def load(lib, path):
    p = lib.llama_model_default_params()
    p.vocab_only = True
    model = lib.llama_model_load_from_file(path.encode(), p)
    if not model:
        raise SystemExit(f"llama.cpp could not load {path}")
    return model, lib.llama_model_get_vocab(model)


def tokenize(lib, vocab, text, add_special, parse_special):
    n = len(text) + 8
    buf = (lib.llama_token * n)()
    k = lib.llama_tokenize(vocab, text, len(text), buf, n, add_special, parse_special)
    if k < 0:
        n = -k
        buf = (lib.llama_token * n)()
        k = lib.llama_tokenize(vocab, text, len(text), buf, n, add_special, parse_special)
    assert k >= 0
    return list(buf[:k])


def piece(lib, vocab, tok, special):
    buf = ctypes.create_string_buffer(256)
    k = lib.llama_token_to_piece(vocab, tok, buf, 256, 0, special)
    if k < 0:
        buf = ctypes.create_string_buffer(-k)
        k = lib.llama_token_to_piece(vocab, tok, buf, -k, 0, special)
    return buf.raw[:k]


def detokenize(lib, vocab, ids, remove_special, unparse_special):
    arr = (lib.llama_token * max(1, len(ids)))(*ids)
    n = 64 + 8 * len(ids)
    buf = ctypes.create_string_buffer(n)
    k = lib.llama_detokenize(vocab, arr, len(ids), buf, n, remove_special, unparse_special)
    if k < 0:
        n = -k
        buf = ctypes.create_string_buffer(n)
        k = lib.llama_detokenize(vocab, arr, len(ids), buf, n, remove_special, unparse_special)
    return buf.raw[:k]


def fnv64(data, h=0xcbf29ce484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def block_hashes(pieces):
    out = []
    for i in range(0, len(pieces), BLOCK):
        h = 0xcbf29ce484222325
        for p in pieces[i:i + BLOCK]:
            h = fnv64(struct.pack("<I", len(p)) + p, h)
        out.append("%016x" % h)
    return out


def with_pre(src, pre, tmp):
    """A copy of the GGUF src with tokenizer.ggml.pre set to pre (gguf-py of
    the llama.cpp in the same sdist)."""
    import gguf  # noqa: from vendor/llama.cpp/gguf-py, see main()
    r = gguf.GGUFReader(src)
    dst = os.path.join(tmp, os.path.basename(src).replace(".gguf", f"-{pre}.gguf"))
    w = gguf.GGUFWriter(dst, arch=r.fields["general.architecture"].contents())
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        v = pre if name == "tokenizer.ggml.pre" else f.contents()
        t = f.types[0]
        if t == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, v, t, sub_type=f.types[-1])
        else:
            w.add_key_value(name, v, t)
    assert not r.tensors
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    return dst


def write_case(lib, name, rel, pre, strs, tmp):
    path = os.path.join(ROOT, rel)
    if pre:
        path = with_pre(path, pre, tmp)
    model, vocab = load(lib, path)
    n = lib.llama_vocab_n_tokens(vocab)
    L = [f"# llama.cpp (llama-cpp-python {lib.__version__}) on {rel}"
         + (f" with tokenizer.ggml.pre = {pre}" if pre else ""),
         f"vocab {rel}"]
    if pre:
        L.append(f"pre {pre}")
    L.append(f"n_tokens {n}")
    ids = [lib.llama_vocab_bos(vocab), lib.llama_vocab_eos(vocab), lib.llama_vocab_eot(vocab),
           lib.llama_vocab_sep(vocab), lib.llama_vocab_pad(vocab), lib.llama_vocab_mask(vocab),
           lib.llama_vocab_fim_pre(vocab), lib.llama_vocab_fim_suf(vocab),
           lib.llama_vocab_fim_mid(vocab), lib.llama_vocab_fim_pad(vocab),
           lib.llama_vocab_fim_rep(vocab), lib.llama_vocab_fim_sep(vocab)]
    L.append("ids " + " ".join(str(i) for i in ids))
    L.append(f"add_bos {int(lib.llama_vocab_get_add_bos(vocab))}")
    L.append(f"add_eos {int(lib.llama_vocab_get_add_eos(vocab))}")
    L.append("eog " + " ".join(str(i) for i in range(n) if lib.llama_vocab_is_eog(vocab, i)))
    runs = []
    for i in range(n):
        a = lib.llama_vocab_get_attr(vocab, i)
        if runs and runs[-1][0] == a:
            runs[-1][1] += 1
        else:
            runs.append([a, 1])
    L.append("attr " + " ".join(f"{a}:{c}" for a, c in runs))
    L.append(f"pieces {BLOCK} " + " ".join(block_hashes([piece(lib, vocab, i, True) for i in range(n)])))
    L.append(f"pieces_plain {BLOCK} "
             + " ".join(block_hashes([piece(lib, vocab, i, False) for i in range(n)])))

    def d(text, out):
        return "=" if out == text else (out.hex() or "-")

    for i, t in enumerate(strs):
        a = tokenize(lib, vocab, t, True, True)
        b = tokenize(lib, vocab, t, False, False)
        da = detokenize(lib, vocab, a, False, True)
        db = detokenize(lib, vocab, b, False, False)
        dc = detokenize(lib, vocab, a, True, False)
        bs = "=" if b == a else " ".join(map(str, b))
        L.append(f"c {i} | {' '.join(map(str, a))} | {bs} | "
                 f"{d(t, da)} | {d(t, db)} | {d(t, dc)}")
    lib.llama_model_free(model)
    with open(os.path.join(OUT, f"{name}.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")
    print(f"{name}: {n} tokens, {len(strs)} strings")


def main():
    import llama_cpp as lib
    # gguf-py as the sdist vendors it, for the "default" pre-tokenizer copy;
    # LLAMA_CPP_DIR names an extracted sdist's vendor/llama.cpp.
    src = os.environ.get("LLAMA_CPP_DIR")
    if src:
        sys.path.insert(0, os.path.join(src, "gguf-py"))
    lib.llama_backend_init()
    os.makedirs(OUT, exist_ok=True)
    strs = strings()
    with open(os.path.join(OUT, "strings.txt"), "w") as f:
        f.write("".join(t.hex() + "\n" for t in strs))
    tmp = tempfile.mkdtemp()
    try:
        for name, (rel, pre) in CASES.items():
            write_case(lib, name, rel, pre, strs, tmp)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()

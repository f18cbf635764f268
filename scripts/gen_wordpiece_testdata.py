#!/usr/bin/env python3
"""Writes tests/data/wordpiece_minilm.jsonl: test strings and the ids Hugging
Face `tokenizers` gives them with all-MiniLM-L6-v2's tokenizer.json; and
tests/data/bert_normalizer.jsonl: the BERT normalizer's output alone.

    pip install tokenizers==0.23.3
    python3 scripts/gen_wordpiece_testdata.py [MODEL_DIR]

MODEL_DIR defaults to .deps/models/all-MiniLM-L6-v2. The strings are built
deterministically (fixed seeds, no data from outside): several scripts,
accents, CJK, emoji sequences, control characters, invalid UTF-8, words past
max_input_chars_per_word, texts past 512 tokens. Each input is stored as the
raw bytes (hex), so invalid UTF-8 survives; tokenizers is given
bytes.decode('utf-8', 'replace') of them, which is what the C decoder must
reproduce.

The first line is {"meta": {...}}; each other line:
  {"name": s, "hex": input bytes, "ids": with [CLS]/[SEP], no truncation,
   "ids_plain": no special tokens, no truncation,
   "ids_128": with special tokens, truncated to 128, "ids_512": ... to 512,
   "ids_plain_128": no special tokens, truncated to 128}
"""
import hashlib
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "wordpiece_minilm.jsonl")
# The BERT normalizer alone (clean_text, handle_chinese_chars, strip_accents,
# lowercase all on), on strings dense in combining marks and rare code points:
# most of them end up [UNK] as ids, which would hide a difference in the
# normalized text. Lines: {"hex": input bytes, "norm": normalized UTF-8 (hex)}.
OUT_NORM = os.path.join(ROOT, "tests", "data", "bert_normalizer.jsonl")


def normalizer_cases(all_cases):
    import unicodedata
    rng = random.Random(4321)
    marks = [c for c in range(0x300, 0x110000) if not 0xD800 <= c <= 0xDFFF and
             (unicodedata.combining(chr(c)) or unicodedata.category(chr(c)) in ("Mn", "Mc", "Me"))]
    out = [raw for _, raw in all_cases if len(raw) < 2000]
    for _ in range(400):
        chars = []
        for _ in range(rng.randrange(1, 24)):
            r = rng.random()
            if r < 0.5:
                cp = rng.choice(marks)
            elif r < 0.7:
                cp = rng.randrange(0x110000)
            elif r < 0.85:
                cp = rng.randrange(0x80, 0x3000)
            else:
                cp = rng.choice([0x20, 0x61, 0x41, 0xC9, 0x130, 0x3A3, 0xAC00, 0x4E2D, 0x1D165,
                                 0x1D16D, 0x0, 0x9, 0xFFFD, 0x200D])
            chars.append(chr(0xFFFD if 0xD800 <= cp <= 0xDFFF else cp))
        out.append("".join(chars).encode("utf-8"))
    return out


def cases():
    """[(name, bytes)] in a fixed order."""
    out = []

    def add(name, s):
        out.append((name, s if isinstance(s, bytes) else s.encode("utf-8")))

    # ------------------------------------------------------------ plain text
    english = [
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "This is a test of the WordPiece tokenizer.",
        "unaffable unbelievably tokenization preprocessing",
        "I can't believe it's not butter!",
        "Don't stop believin' -- hold on to that feelin'.",
        "She said: \"well... maybe?\" (not sure)",
        "e-mail, co-operate, state-of-the-art, well-known",
        "The year 2024 had 366 days; 3.14159 is pi; 1,000,000 is a million.",
        "Mr. Smith went to Washington D.C. on 4/5/2021 at 10:30am.",
        "  leading and trailing spaces  ",
        "multiple     spaces\tand\ttabs\nand\nnewlines\r\nand CRLF",
        "UPPERCASE lowercase MiXeD CaSe",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "Pneumonoultramicroscopicsilicovolcanoconiosis is a long word.",
        "sentence-transformers/all-MiniLM-L6-v2 maps sentences to 384 dims",
        "C++ and C# and F# are languages; so is Python3.11.",
        "x=1; y = x*2 + 3/4 - (5^6) % 7; if (a<b && c>d || !e) {f();}",
        "#hashtag @mention $100 50% 3*4=12 a|b ~tilde `backtick` under_score",
    ]
    for i, s in enumerate(english):
        add(f"english/{i}", s)
    add("url/0", "https://www.example.com/path/to/page?query=1&other=two#fragment")
    add("url/1", "Visit http://localhost:8080/api/v1/users/42 or ftp://files.example.org/pub.")
    add("url/2", "email me at first.last+tag@sub.example.co.uk, thanks")
    add("numbers/0", "0 1 2 3 4 5 6 7 8 9 10 100 1000 10000 100000 1000000")
    add("numbers/1", "3.14159265358979323846264338327950288419716939937510")
    add("numbers/2", "+1 (555) 123-4567, ext. 89; ISBN 978-3-16-148410-0")
    add("numbers/3", "１２３ ４５６ fullwidth digits and Ａ Ｂ Ｃ letters")
    add("numbers/4", "Roman Ⅻ, circled ① ② ③, superscript x² y³, fractions ½ ¾ ⅓")
    add("code/0", "def f(x):\n    return x ** 2  # square\n\nprint(f(3))")
    add("code/1", "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }")
    add("code/2", "<html><body class=\"main\">Hi &amp; bye</body></html>")
    add("code/3", '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}')

    # ------------------------------------------------------------ accents and Latin
    accents = [
        "Café, naïve, résumé, façade, jalapeño, piñata, über, coöperate",
        "Ça va? Où est la bibliothèque? À bientôt, Hélène!",
        "Straße, Größe, Fußgänger, ÄÖÜ äöü ẞ",
        "¿Qué tal? ¡Muy bien! El niño comió piñones.",
        "Tiếng Việt có nhiều dấu: ắ ằ ẳ ẵ ặ ấ ầ ẩ ẫ ậ ế ề ể ễ ệ",
        "Zażółć gęślą jaźń. Łódź, Kraków, Wrocław",
        "Příliš žluťoučký kůň úpěl ďábelské ódy",
        "İstanbul, ılık, IŞIK, ıi İI, Diyarbakır",
        "Ærø, Ålesund, Øresund, smørrebrød, Þór, Ðiðrik",
        "Ångström, Åland, Malmö, Göteborg",
        "façade FAÇADE Façade",
        "e\u0301 a\u0300 o\u0308 n\u0303 (decomposed accents)",
        "\u0301\u0300\u0308 combining marks alone",
        "a\u0301\u0301\u0301\u0301\u0301 stacked",
        "ǅemal ǈubljana ǋegoš (titlecase digraphs)",
        "ﬁne ﬂow ﬀ ﬃ (ligatures)",
        "Ŀ ŉ ſ ƒ Ǆ ǆ Ǳ ǳ",
        "À Á Â Ã Ä Å Ā Ă Ą Ǎ Ǻ Ȁ Ȃ Ȧ Ḁ Ạ Ả Ấ Ầ Ẩ Ẫ Ậ Ắ Ằ Ẳ Ẵ Ặ",
        "ḍ ḥ ḷ ṃ ṇ ṛ ṣ ṭ ẓ ā ī ū (IAST)",
        "Ṭhe ḟoẋ ȷumps ǫver ţhe ḷazy ḋog",
    ]
    for i, s in enumerate(accents):
        add(f"accents/{i}", s)

    # ------------------------------------------------------------ other scripts
    scripts = {
        "greek/0": "Γειά σου Κόσμε! Ελληνικά: άέήίόύώ ΐΰ ϊϋ",
        "greek/1": "ΣΊΣΥΦΟΣ Σίσυφος ΟΔΟΣ οδός ς σ Σ",
        "greek/2": "ᾼ ᾳ ᾈ ᾀ ῼ ῳ (iota subscript) ᾯ",
        "cyrillic/0": "Привет, мир! Съешь же ещё этих мягких французских булок.",
        "cyrillic/1": "Ёжик в тумане. ЙОД йод. Україна, Ґ ґ Є є Ї ї",
        "armenian/0": "Բարեւ աշխարհ Ա ա",
        "georgian/0": "გამარჯობა მსოფლიო ᲒᲐᲛᲐᲠᲯᲝᲑᲐ",
        "arabic/0": "مرحبا بالعالم! السَّلَامُ عَلَيْكُمْ",
        "arabic/1": "العربية: ١٢٣ ٤٥٦، ؟ ؛ «نص»",
        "hebrew/0": "שלום עולם! בְּרֵאשִׁית בָּרָא",
        "persian/0": "سلام دنیا\u200cها می\u200cخواهم",
        "devanagari/0": "नमस्ते दुनिया! हिन्दी भाषा",
        "devanagari/1": "क्षत्रिय ज्ञान श्री ॐ ।।",
        "bengali/0": "হ্যালো বিশ্ব বাংলা",
        "tamil/0": "வணக்கம் உலகம் தமிழ்",
        "telugu/0": "హలో ప్రపంచం",
        "thai/0": "สวัสดีชาวโลก ภาษาไทย ก่อน",
        "thai/1": "กรุงเทพมหานคร อมรรัตนโกสินทร์",
        "lao/0": "ສະບາຍດີ",
        "khmer/0": "សួស្តីពិភពលោក",
        "myanmar/0": "မင်္ဂလာပါ",
        "tibetan/0": "བཀྲ་ཤིས་བདེ་ལེགས།",
        "ethiopic/0": "ሰላም ለዓለም",
        "cherokee/0": "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ ꭰꭱꭲ",
        "mongolian/0": "ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ\u180e",
        "sinhala/0": "ආයුබෝවන්",
        "deseret/0": "𐐔𐐯𐑅𐐨𐑉𐐯𐐻 𐐼𐐯𐑅𐐨𐑉𐐯𐐻",
        "gothic/0": "𐌲𐌿𐍄𐌹𐍃𐌺",
        "math/0": "𝐀𝐁𝐂 𝑎𝑏𝑐 𝔸𝔹ℂ ∀x∈ℝ: x²≥0 ∑∫∂∇ ≤≥≠≈",
    }
    for k, v in scripts.items():
        add(k, v)

    # ------------------------------------------------------------ CJK
    cjk = [
        "你好，世界！我爱自然语言处理。",
        "中文分词测试：北京大学生前来应聘",
        "繁體中文測試：臺灣、香港、澳門",
        "日本語のテキスト：こんにちは世界。カタカナとひらがな。",
        "東京タワーは333メートルです。",
        "ｶﾀｶﾅ ﾊﾝｶｸ (halfwidth katakana) ガギグゲゴ パピプペポ",
        "한국어 텍스트: 안녕하세요 세계! 대한민국",
        "ㄱㄴㄷ ᄀᄁᄂ 한글 자모",
        "CJK Ext-B: 𠀀𠀁𠀂 𪚥 Ext-C: 𪜀 Ext-D: 𫝀 Ext-E: 𫠠𫠡 𬀀 Ext-F: 𬺰",
        "Compatibility: 豈 更 車 丽 丸 乁",
        "Radicals ⺀ ⺁ ⼀ ⼁ and strokes ㇀ ㇁ ㆐",
        "mixed中文English日本語한국어text",
        "全角：ＡＢＣ　ａｂｃ　！？",
        "「引用」『二重』【括弧】〈山〉《書名》",
        "数字123和English混合",
        "〇一二三四五六七八九十百千万億",
        "ℳ ㎏ ㎞ ㍿ ㈱ ㊤ ㋿",
    ]
    for i, s in enumerate(cjk):
        add(f"cjk/{i}", s)

    # ------------------------------------------------------------ emoji
    emoji = [
        "I love it 😀😃😄😁 so much!",
        "👍👍🏻👍🏼👍🏽👍🏾👍🏿 skin tones",
        "👨‍👩‍👧‍👦 family, 👩‍💻 technologist, 🏳️‍🌈 flag, 🧑🏽‍🚀 astronaut",
        "🇺🇸🇬🇧🇯🇵🇩🇪 flags 🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland",
        "keycaps 1️⃣ 2️⃣ #️⃣ *️⃣",
        "❤️ ❤ ♥️ ☺️ ✔️ ✈︎",
        "🥰 🦄 🧠 🫠 🫶 🪿 newer emoji",
        "emoji🙂inside🙃words",
        "🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉",
        "Text with ™ © ® ℗ ℠ symbols",
    ]
    for i, s in enumerate(emoji):
        add(f"emoji/{i}", s)

    # ------------------------------------------------------------ punctuation
    punct = [
        "!!!???...,,,;;;:::",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "a!b\"c#d$e%f&g'h(i)j*k+l,m-n.o/p:q;r<s=t>u?v@w[x\\y]z^_`{|}~",
        "“smart quotes” ‘single’ „German“ «French» ‹angle›",
        "em—dash en–dash figure‒dash horizontal―bar hyphen‐ minus−",
        "ellipsis… bullet • middot · section § pillcrow ¶ dagger † ‡",
        "CJK punct 。、，；：？！…—《》",
        "Arabic punct ، ؛ ؟ ٪ ٫ ٬",
        "Devanagari danda । ॥ and Thai ฯ ๆ",
        "¡¿ inverted !? interrobang ‽ ⁇ ⁈ ⁉",
        "⸮ ⸘ ⹀ ⹁ ⹂ ⹃ ⹄ ⹅ ⹏ ⹒ newer punctuation",
        "᙭ ᙮ canadian syllabics chi sign and full stop",
        "((((((((((nested))))))))))",
        "----------==========__________**********",
        "....................................................................................................",
    ]
    for i, s in enumerate(punct):
        add(f"punct/{i}", s)

    # ------------------------------------------------------------ special tokens in text
    specials = [
        "[CLS] hello [SEP] world [SEP]",
        "the [MASK] sat on the mat",
        "[mask] lowercase is not special [Mask]",
        "[UNK][PAD][CLS][SEP][MASK]",
        "x[MASK]y [CLS]z",
        "[CLS [SEP] [ SEP ] [[MASK]] [PAD",
        "[MASK]" * 30,
    ]
    for i, s in enumerate(specials):
        add(f"special/{i}", s)

    # ------------------------------------------------------------ control and whitespace
    controls = [
        "NUL\x00in\x00the\x00middle",
        "\x00\x00\x00",
        "bell\x07 backspace\x08 vt\x0b ff\x0c esc\x1b del\x7f",
        "C1 controls \x80\x85\x9f here",
        "unit sep\x1f record sep\x1e group sep\x1d file sep\x1c",
        "tab\there\nnewline\rcarriage\r\nreturn",
        "soft\u00adhyphen zero\u200bwidth joiner\u200dnon\u200cjoiner",
        "bom\ufeffinside and word\u2060joiner",
        "bidi \u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069 marks",
        "replacement \ufffd char \ufffd\ufffd",
        "private use \ue000 \ue001 \uf8ff \U000f0000 \U0010fffd",
        "noncharacters \ufdd0 \ufffe \uffff \U0001fffe",
        "unassigned \u0378 \u0bfb \U0001fbff \U0003ffff \U000e0000",
        "tags \U000e0001\U000e0041\U000e007f and variation \ufe00\ufe0f \U000e0100",
        "nbsp\u00a0ogham\u1680en\u2002em\u2003thin\u2009hair\u200anarrow\u202fmath\u205fideo\u3000end",
        "line\u2028sep para\u2029sep nel\u0085x",
        "mongolian vowel sep\u180ehere",
        "arabic \u0600\u0601 number signs \u06dd \u070f \u08e2 syriac \u110bd",
        "interlinear \ufff9a\ufffab\ufffb",
        "\t\n\r \t\n\r",
        " ",
        "",
        "\u3000\u3000\u3000",
        "\x01\x02\x03\x04\x05\x06",
        "deprecated format \u206a\u206b\u206c\u206d\u206e\u206f",
        "egyptian \U00013430\U00013431 format controls",
        "shorthand \U0001bca0\U0001bca3 musical \U0001d173\U0001d17a",
    ]
    for i, s in enumerate(controls):
        add(f"control/{i}", s)

    # ------------------------------------------------------------ Unicode edge cases
    edges = [
        "ΣΑΣ ΟΔΟΣ. ΣΣ Σ",
        "ẞ ß SS ss",
        "İ i̇ I ı",
        "ﬀ ﬅ ﬆ ŉ ǰ ΐ",
        "Ꭰ Ꭱ Ꮿ ᏸ ꭰ (cherokee case)",
        "Ა Ბ Ჿ (georgian mtavruli)",
        "𐒰 𐓘 osage 𞤀 𞤢 adlam 𖹀 𖹠 medefaidrin",
        "\ua7cb\ua7cc\ua7dc \u1c89 \U00010d50 \U00016ea0 newest capitals",
        "Ω Ω K k Å Å (singletons)",
        "가 각 갂 힣 ᄀ ᅡ ᆨ",
        "\u0f73 \u0f75 \u0f81 tibetan vowels",
        "\u0344 \u0340 \u0341 \u0343 greek combining",
        "\u1734 \u11938 \u111c9 \u166d changed categories",
        "a\u0323\u0302 a\u0302\u0323 reorder",
        "\U0001d15e\U0001d165 \U0001d165\U0001d16d\U0001d165 musical marks",
        "q\u0307\u0323 ḍ\u0307 ṩ",
        "\u0e40\u0e01\u0e47 thai mai taikhu",
        "\u093f\u0940 \u0941 \u0902 \u0903 devanagari signs",
        "\u0300" * 20 + "x",
        "ǅ ǈ ǋ ǲ ᾈ ᾉ ᾯ ᾼ ῌ ῼ",
    ]
    for i, s in enumerate(edges):
        add(f"unicode/{i}", s)

    # ------------------------------------------------------------ long words
    add("long/100a", "a" * 100)
    add("long/101a", "a" * 101)
    add("long/99a_end", "a" * 99 + "!")
    add("long/100e_acute", "é" * 100)
    add("long/101e_acute", "é" * 101)
    add("long/100_decomposed", "e\u0301" * 100)
    add("long/200_mixed", "b" * 200 + " ok " + "c" * 150)
    add("long/word", "x" + "abcdefghij" * 10 + " short words after")
    add("long/cjk", "中" * 300)
    add("long/digits", "1234567890" * 12)
    add("long/url", "https://example.com/" + "segment/" * 20 + "?q=" + "v" * 120)
    add("long/hangul", "한" * 120)
    add("long/punct_in_long", ("abcdefghij" * 11 + ".") * 3)

    # ------------------------------------------------------------ invalid UTF-8
    invalid = [
        b"overlong slash \xc0\xaf and nul \xc0\x80 end",
        b"overlong 3 \xe0\x80\xaf and 4 \xf0\x80\x80\xaf end",
        b"surrogate \xed\xa0\x80 low \xed\xbf\xbf pair \xed\xa0\xbd\xed\xb8\x80",
        b"above max \xf4\x90\x80\x80 and \xf5\x80\x80\x80 \xf7\xbf\xbf\xbf",
        b"truncated euro \xe2\x82 and emoji \xf0\x9f\x98 in the middle",
        b"truncated at the end \xe2\x82",
        b"truncated at the end 4 \xf0\x9f\x98",
        b"lone continuation \x80 and \xbf and \x80\x80\x80",
        b"bytes fe ff \xfe \xff \xfe\xff",
        b"c1 \xc1\xbf c0 \xc0",
        b"\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8 chinese cut",
        b"\xff" * 10,
        b"caf\xe9 latin-1 \xe9t\xe9",
        b"mixed \xc3\xa9 valid \xc3 invalid \xc3\xa9",
        b"\xf0\x90\x80 \xf0\x90 \xf0 short",
        b"\xed\x9f\xbf ok \xee\x80\x80 ok \xef\xbf\xbd ok",
        b"\xe0\xa0\x80 min3 \xf0\x90\x80\x80 min4 \xf4\x8f\xbf\xbf max",
        b"a\x80b\xc2c\xe2\x82d\xf0\x9f\x98e",
        b"\xc2\xc2\xc2\xa0",
        b"\xe1\x80\xe1\x80\x80",
    ]
    for i, s in enumerate(invalid):
        add(f"invalid_utf8/{i}", s)
    rng = random.Random(1234)
    for i in range(20):
        add(f"random_bytes/{i}", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    # Valid UTF-8 with random bytes spliced in.
    for i in range(10):
        base = bytearray("Ünïcödé テキスト 😀 with some words here".encode("utf-8"))
        for _ in range(5):
            base.insert(rng.randrange(len(base) + 1), rng.randrange(0x80, 0x100))
        add(f"spliced_bytes/{i}", bytes(base))

    # ------------------------------------------------------------ random code points
    pools = [
        (0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x52F), (0x590, 0x6FF),
        (0x900, 0xDFF), (0xE00, 0xEFF), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x206F),
        (0x2070, 0x2BFF), (0x2E00, 0x2E7F), (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
        (0xA000, 0xABFF), (0xAC00, 0xD7A3), (0xF900, 0xFFFD), (0x10000, 0x1FFFF),
        (0x20000, 0x2FFFF), (0x30000, 0x10FFFF),
    ]
    for i in range(60):
        n = rng.randrange(1, 60)
        chars = []
        for _ in range(n):
            if rng.random() < 0.25:
                chars.append(rng.choice(" \t\n.,!?-'\"()"))
                continue
            lo, hi = rng.choice(pools)
            cp = rng.randrange(lo, hi + 1)
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0xFFFD
            chars.append(chr(cp))
        add(f"random_unicode/{i}", "".join(chars))
    # Random words drawn from scripts, mixed.
    words = ["hello", "wörld", "naïve", "東京", "안녕", "привет", "γειά", "مرحبا", "שלום",
             "नमस्ते", "สวัสดี", "😀", "👍🏽", "e\u0301", "İ", "ß", "x123", "...", "[MASK]",
             "\x00", "\u200b", "\ufffd", "ﬁ", "Ǆ", "１２", "https://a.b/c", "don't"]
    for i in range(40):
        n = rng.randrange(1, 40)
        sep = [" ", "", "\t", "\n", "-", " , "]
        add(f"mixed/{i}", "".join(rng.choice(words) + rng.choice(sep) for _ in range(n)))

    # ------------------------------------------------------------ longer than 512 tokens
    lorem = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
             "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
             "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. ")
    add("over512/lorem", lorem * 15)
    add("over512/words", " ".join(f"word{i} number {i * 7919 % 1000}" for i in range(400)))
    add("over512/cjk", "自然语言处理是人工智能的一个分支。" * 40)
    add("over512/mixed", " ".join(rng.choice(words) for _ in range(700)))
    add("over512/punct", "a, b. c! d? " * 200)
    add("over512/emoji", "😀 🎉 👍🏽 " * 250)
    add("over512/accents", "Ça été très différent à l'époque où nous étions là. " * 60)
    add("over512/exact", " ".join(["the"] * 510))       # 512 with [CLS] and [SEP]
    add("over512/exact_plus1", " ".join(["the"] * 511))
    add("over512/exact126", " ".join(["the"] * 126))     # 128 with specials
    add("over512/exact127", " ".join(["the"] * 127))
    add("over512/newlines", "line of text\n" * 300)
    return out


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".deps", "models",
                                                                   "all-MiniLM-L6-v2")
    import tokenizers
    from tokenizers import Tokenizer

    path = os.path.join(model_dir, "tokenizer.json")
    tok = Tokenizer.from_file(path)
    tok.no_padding()

    def ids(text, special, trunc):
        if trunc:
            tok.enable_truncation(trunc)
        else:
            tok.no_truncation()
        return tok.encode(text, add_special_tokens=special).ids

    all_cases = cases()
    names = [n for n, _ in all_cases]
    assert len(names) == len(set(names)), "duplicate case names"
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    over512 = 0
    with open(OUT, "w", encoding="utf-8") as f:
        meta = {"tokenizers": tokenizers.__version__, "tokenizer_json_sha256": sha,
                "cases": len(all_cases), "generator": "scripts/gen_wordpiece_testdata.py"}
        f.write(json.dumps({"meta": meta}) + "\n")
        for name, raw in all_cases:
            text = raw.decode("utf-8", "replace")
            row = {"name": name, "hex": raw.hex(),
                   "ids": ids(text, True, None), "ids_plain": ids(text, False, None),
                   "ids_128": ids(text, True, 128), "ids_512": ids(text, True, 512),
                   "ids_plain_128": ids(text, False, 128)}
            over512 += len(row["ids"]) > 512
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}: {len(all_cases)} cases, {over512} longer than 512 tokens")

    from tokenizers import normalizers
    bert = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=None, lowercase=True)
    norm_cases = normalizer_cases(all_cases)
    with open(OUT_NORM, "w", encoding="utf-8") as f:
        for raw in norm_cases:
            norm = bert.normalize_str(raw.decode("utf-8", "replace"))
            f.write(json.dumps({"hex": raw.hex(), "norm": norm.encode("utf-8").hex()}) + "\n")
    print(f"wrote {OUT_NORM}: {len(norm_cases)} cases")


if __name__ == "__main__":
    main()

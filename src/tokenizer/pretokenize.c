/*
 * The pre-tokenizers of byte-level BPE, as llama.cpp runs them (its
 * src/unicode.cpp, unicode_regex_split): text is split into words before the
 * merges, by regular expressions over Unicode categories. llama.cpp does not
 * run the expressions with a regex engine for these models but with hand
 * written scanners that differ from the expressions in small ways (e.g. "\s+(?!\S)"
 * keeps all but the last of a run of spaces only when more text follows in
 * the same piece); the scanners below reproduce what llama.cpp does, rule by
 * rule, since its ids are the reference. Each rule's comment gives the
 * expression it stands for.
 *
 * A pre-tokenizer is a sequence of passes. Each pass splits every piece the
 * previous one left (a piece is never joined with its neighbour again), and
 * the lookahead of a rule never sees past the end of its piece.
 *
 *   gpt2     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   llama3   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2    llama3 with \p{N} for \p{N}{1,3}
 *   smollm   \p{N} isolated, then gpt2
 *   default  [\p{P}\$\+<=>\^~\|]+ isolated, then gpt2, then \p{N}+ isolated,
 *            then [0-9][0-9][0-9] isolated
 *
 * Code points come from wgml_bpe_utf8_decode_lenient; \s is White_Space, the
 * categories are Unicode 15.1's (wgml_unicode_category).
 */
#include "tokenizer/bpe.h"
#include "tokenizer/unicode.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- UTF-8

wgml_status wgml_bpe_utf8_decode_lenient(const char *text, size_t len, uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    uint32_t *cps = malloc((len ? len : 1) * sizeof(uint32_t));
    if (!cps) return WGML_ERR_OUT_OF_MEMORY;
    const uint8_t *s = (const uint8_t *)text;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        uint8_t b = s[i];
        size_t need;      // continuation bytes
        uint32_t cp;
        if (b < 0x80) {
            cps[k++] = b;
            i++;
            continue;
        } else if (b < 0xC0) {
            need = 0;     // a continuation byte cannot lead
            cp = 0;
        } else if (b < 0xE0) {
            need = 1;
            cp = b & 0x1Fu;
        } else if (b < 0xF0) {
            need = 2;
            cp = b & 0x0Fu;
        } else if (b < 0xF8) {
            need = 3;
            cp = b & 0x07u;
        } else {
            need = 0;
            cp = 0;
        }
        bool ok = need > 0 && len - i > need;
        for (size_t j = 1; ok && j <= need; j++) {
            if ((s[i + j] & 0xC0) != 0x80) ok = false;
            else cp = (cp << 6) | (s[i + j] & 0x3Fu);
        }
        if (ok) {
            cps[k++] = cp;
            i += need + 1;
        } else {
            cps[k++] = WGML_UNICODE_REPLACEMENT;
            i++;
        }
    }
    *out = cps;
    *n = k;
    return WGML_OK;
}

// ---------------------------------------------------------------- byte map

// GPT-2 keeps the printable bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF)
// as the code point of the same value and numbers the other 68 from U+0100
// on, in byte order.
static bool byte_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

// The 68 others, in byte order: 0x00-0x20 (33), 0x7F-0xA0 (34), 0xAD.
uint32_t wgml_bpe_byte_cp(uint8_t b)
{
    if (byte_printable(b)) return b;
    if (b <= 0x20) return 0x100u + b;
    if (b <= 0xA0) return 0x100u + 33 + (b - 0x7Fu);
    return 0x100u + 67;   // 0xAD
}

int wgml_bpe_cp_byte(uint32_t cp)
{
    if (cp < 0x100) return byte_printable(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68) return -1;
    uint32_t k = cp - 0x100;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + (k - 33));
    return 0xAD;
}

// ---------------------------------------------------------------- flags

// Per code point: WGML_UCAT_* class + 1 in the low bits (so a code point
// inside the piece never has flags 0) and the White_Space bit. Outside the
// piece a rule sees flags 0: no class at all.
enum { F_CLASS = 0x0F, F_WS = 0x10 };

static uint8_t flags_of(uint32_t cp)
{
    uint8_t f = (uint8_t)(wgml_unicode_category(cp) + 1);
    if (cp <= 0x10FFFF && (wgml_unicode_props_of(cp) & WGML_UNICODE_WHITESPACE)) f |= F_WS;
    return f;
}

static bool f_letter(uint8_t f) { return (f & F_CLASS) == WGML_UCAT_LETTER + 1; }
static bool f_number(uint8_t f) { return (f & F_CLASS) == WGML_UCAT_NUMBER + 1; }
static bool f_ws(uint8_t f) { return (f & F_WS) != 0; }

// ---------------------------------------------------------------- pieces

typedef struct sizes {
    size_t *v;
    size_t n, cap;
} sizes;

static bool sizes_push(sizes *s, size_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        size_t *v = realloc(s->v, cap * sizeof(size_t));
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return true;
}

// One piece [b, e) of the text, as a rule sees it.
typedef struct piece {
    const uint32_t *cps;
    const uint8_t *flags;
    size_t b, e;
    size_t start;        // where the current word starts
    sizes *out;
    bool oom;
} piece;

#define OUT_OF_PIECE 0xFFFFFFFFu

static uint32_t cp_at(const piece *p, size_t i) { return i >= p->b && i < p->e ? p->cps[i] : OUT_OF_PIECE; }
static uint8_t fl_at(const piece *p, size_t i) { return i >= p->b && i < p->e ? p->flags[i] : 0; }

// Ends the current word at end (nothing when it would be empty).
static void emit(piece *p, size_t end)
{
    if (end > p->start && !sizes_push(p->out, end - p->start)) p->oom = true;
    p->start = end;
}

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// 's|'t|'re|'ve|'m|'ll|'d at pos (case-insensitive when asked): the end of
// the match, or 0. llama.cpp looks only inside the piece.
static size_t contraction(const piece *p, size_t pos, bool fold)
{
    if (p->cps[pos] != '\'' || pos + 1 >= p->e) return 0;
    uint32_t a = p->cps[pos + 1];
    if (fold) a = ascii_lower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
    if (pos + 2 >= p->e) return 0;
    uint32_t b = p->cps[pos + 2];
    if (fold) b = ascii_lower(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 3;
    return 0;
}

// \s+(?!\S) then \s+ as llama.cpp scans them from pos, with \s*[\r\n]+ first
// when newlines count: the end of the word, or pos + 1 when pos is no space.
static size_t spaces(const piece *p, size_t pos, bool newlines)
{
    size_t n = 0, last_newline_end = 0;
    while (f_ws(fl_at(p, pos + n))) {
        uint32_t c = p->cps[pos + n];
        if (c == '\r' || c == '\n') last_newline_end = pos + n + 1;
        n++;
    }
    if (newlines && last_newline_end) return last_newline_end;   // \s*[\r\n]+
    if (n > 1 && pos + n < p->e) return pos + n - 1;             // \s+(?!\S)
    if (n > 0) return pos + n;                                   // \s+
    return pos + 1;                                              // no rule: one code point
}

static void split_gpt2(piece *p)
{
    for (size_t pos = p->b; pos < p->e && !p->oom;) {
        uint32_t c = p->cps[pos];
        size_t end = contraction(p, pos, false);
        if (end) {
            emit(p, end);
            pos = end;
            continue;
        }
        // A leading space joins the letters, digits or other symbols after it.
        uint8_t f = c == ' ' ? fl_at(p, pos + 1) : p->flags[pos];
        size_t j = pos + (c == ' ');
        if (f_letter(f)) {                                    //  ?\p{L}+
            while (f_letter(fl_at(p, j))) j++;
        } else if (f_number(f)) {                             //  ?\p{N}+
            while (f_number(fl_at(p, j))) j++;
        } else if (f && !f_ws(f)) {                           //  ?[^\s\p{L}\p{N}]+
            for (uint8_t g = fl_at(p, j); g && !f_ws(g) && !f_letter(g) && !f_number(g);
                 g = fl_at(p, ++j)) {
            }
        } else {
            j = spaces(p, pos, false);
        }
        emit(p, j);
        pos = j;
    }
}

// llama3 (max_digits 3) and qwen2 (max_digits 1).
static void split_llama3(piece *p, size_t max_digits)
{
    for (size_t pos = p->b; pos < p->e && !p->oom;) {
        uint32_t c = p->cps[pos];
        uint8_t f = p->flags[pos];
        size_t end = contraction(p, pos, true);
        if (end) {
            emit(p, end);
            pos = end;
            continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (c != '\r' && c != '\n' && !f_number(f) &&
            (f_letter(f) || f_letter(fl_at(p, pos + 1)))) {
            size_t j = pos + 1;
            while (f_letter(fl_at(p, j))) j++;
            emit(p, j);
            pos = j;
            continue;
        }
        // \p{N}{1,max_digits}: a run of digits in groups from its start.
        if (f_number(f)) {
            size_t run = pos;
            while (f_number(fl_at(p, pos))) {
                pos++;
                if (pos - run >= max_digits) {
                    emit(p, pos);
                    run = pos;
                }
            }
            emit(p, pos);
            continue;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        uint8_t f2 = c == ' ' ? fl_at(p, pos + 1) : f;
        if (!f_ws(f2) && !f_letter(f2) && !f_number(f2)) {
            size_t j = pos + (c == ' ');
            for (uint8_t g = fl_at(p, j); g && !f_ws(g) && !f_letter(g) && !f_number(g);
                 g = fl_at(p, ++j)) {
            }
            for (uint32_t d = cp_at(p, j); d == '\r' || d == '\n'; d = cp_at(p, ++j)) {
            }
            emit(p, j);
            pos = j;
            continue;
        }
        size_t j = spaces(p, pos, true);
        emit(p, j);
        pos = j;
    }
}

// Isolates every match of a one-code-point class (each code point alone, or
// maximal runs), leaving the text between matches as pieces of their own.
typedef bool (*cp_pred)(uint32_t cp, uint8_t flags);

static void isolate(piece *p, cp_pred pred, bool runs)
{
    for (size_t pos = p->b; pos < p->e && !p->oom;) {
        size_t j = pos;
        if (pred(p->cps[pos], p->flags[pos])) {
            j++;
            while (runs && j < p->e && pred(p->cps[j], p->flags[j])) j++;
        } else {
            while (j < p->e && !pred(p->cps[j], p->flags[j])) j++;
        }
        emit(p, j);
        pos = j;
    }
}

static bool is_number(uint32_t cp, uint8_t f) { (void)cp; return f_number(f); }

// [\p{P}\$\+<=>\^~\|]: Unicode punctuation and these ASCII symbols.
static bool is_punct_or_sym(uint32_t cp, uint8_t f)
{
    if ((f & F_CLASS) == WGML_UCAT_PUNCT + 1) return true;
    return cp < 0x80 && strchr("$+<=>^~|", (int)cp) && cp != 0;
}

static bool is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }

// [0-9][0-9][0-9]: leftmost triples of ASCII digits, as a regex iterator
// finds them, the rest as pieces between.
static void isolate_digit_triples(piece *p)
{
    size_t pos = p->b;
    while (pos < p->e && !p->oom) {
        if (pos + 3 <= p->e && is_ascii_digit(p->cps[pos]) && is_ascii_digit(p->cps[pos + 1]) &&
            is_ascii_digit(p->cps[pos + 2])) {
            emit(p, pos);      // the gap before, when any
            emit(p, pos + 3);
            pos += 3;
        } else {
            pos++;
        }
    }
    emit(p, p->e);
}

// ---------------------------------------------------------------- passes

typedef enum pass {
    PASS_GPT2, PASS_LLAMA3, PASS_QWEN2, PASS_NUMBER, PASS_NUMBER_RUNS, PASS_PUNCT_RUNS,
    PASS_DIGIT_TRIPLES,
} pass;

// Runs one pass over every piece in `in`, writing the new pieces to `out`.
static bool run_pass(pass k, const uint32_t *cps, const uint8_t *flags, const sizes *in,
                     sizes *out)
{
    out->n = 0;
    size_t b = 0;
    for (size_t i = 0; i < in->n; i++) {
        piece p = {cps, flags, b, b + in->v[i], b, out, false};
        switch (k) {
        case PASS_GPT2: split_gpt2(&p); break;
        case PASS_LLAMA3: split_llama3(&p, 3); break;
        case PASS_QWEN2: split_llama3(&p, 1); break;
        case PASS_NUMBER: isolate(&p, is_number, false); break;
        case PASS_NUMBER_RUNS: isolate(&p, is_number, true); break;
        case PASS_PUNCT_RUNS: isolate(&p, is_punct_or_sym, true); break;
        case PASS_DIGIT_TRIPLES: isolate_digit_triples(&p); break;
        }
        if (p.oom) return false;
        b += in->v[i];
    }
    return true;
}

wgml_status wgml_bpe_pretokenize(wgml_bpe_pre pre, const uint32_t *cps, size_t n,
                                 size_t **words, size_t *n_words)
{
    *words = NULL;
    *n_words = 0;
    if (n == 0) return WGML_OK;
    static const pass p_default[] = {PASS_PUNCT_RUNS, PASS_GPT2, PASS_NUMBER_RUNS,
                                     PASS_DIGIT_TRIPLES};
    static const pass p_gpt2[] = {PASS_GPT2};
    static const pass p_llama3[] = {PASS_LLAMA3};
    static const pass p_qwen2[] = {PASS_QWEN2};
    static const pass p_smollm[] = {PASS_NUMBER, PASS_GPT2};
    const pass *passes;
    size_t n_passes;
    switch (pre) {
    case WGML_BPE_PRE_GPT2: passes = p_gpt2; n_passes = 1; break;
    case WGML_BPE_PRE_LLAMA3: passes = p_llama3; n_passes = 1; break;
    case WGML_BPE_PRE_QWEN2: passes = p_qwen2; n_passes = 1; break;
    case WGML_BPE_PRE_SMOLLM: passes = p_smollm; n_passes = 2; break;
    default: passes = p_default; n_passes = 4; break;
    }
    uint8_t *flags = malloc(n);
    sizes a = {0}, b = {0};
    bool ok = flags && sizes_push(&a, n);
    for (size_t i = 0; ok && i < n; i++) flags[i] = flags_of(cps[i]);
    for (size_t i = 0; ok && i < n_passes; i++) {
        ok = run_pass(passes[i], cps, flags, &a, &b);
        sizes t = a;
        a = b;
        b = t;
    }
    free(flags);
    free(b.v);
    if (!ok) {
        free(a.v);
        return WGML_ERR_OUT_OF_MEMORY;
    }
    *words = a.v;
    *n_words = a.n;
    return WGML_OK;
}

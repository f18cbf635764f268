// The GGUF tokenizers (src/tokenizer/bpe.h).
//   test_bpe reference CASE  ids, special ids, attributes, end-of-generation set,
//                            pieces and detokenized texts equal llama.cpp's on
//                            every string of tests/data/bpe/strings.txt
//                            (tests/data/bpe/CASE.txt, scripts/gen_bpe_testdata.py);
//                            the streaming decoder hands out valid UTF-8 only and
//                            adds up to the pieces; skipped without the vocabulary
//   test_bpe unit            tiny vocabularies: byte fallback, special-token
//                            order, BOS/EOS, end of generation, the stream's
//                            held bytes, refused vocabularies
//   test_bpe gguf            loading from GGUF metadata, and malformed metadata
//   test_bpe linear          time grows linearly with the input (1 and 2 MiB of
//                            one repeated character or string)
//   test_bpe invalid         random bytes through every vocabulary: no crash, ids
//                            in range, valid streamed UTF-8
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "formats/gguf.h"
#include "test_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WGML_TEST_DATA_DIR
#error "WGML_TEST_DATA_DIR must name tests/data/bpe"
#endif
#ifndef WGML_SOURCE_DIR
#error "WGML_SOURCE_DIR must name the repository root"
#endif

// ---------------------------------------------------------------- helpers

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *b = realloc(buf, 2 * cap + 1);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// Decodes n hex digits into out (n / 2 bytes); false on a bad digit.
static bool unhex(const char *h, size_t n, char *out)
{
    if (n % 2) return false;
    for (size_t i = 0; i < n; i += 2) {
        int a = hexval(h[i]), b = hexval(h[i + 1]);
        if (a < 0 || b < 0) return false;
        out[i / 2] = (char)(a * 16 + b);
    }
    return true;
}

static void print_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\') fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
    if (n > 200) fprintf(stderr, "... (%zu bytes)", n);
}

// Whether s is well-formed UTF-8 (U+FFFD only where the bytes say so).
static bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t p = i;
        uint32_t cp = wgml_utf8_decode((const uint8_t *)s, n, &p);
        if (cp == WGML_UNICODE_REPLACEMENT && !(p - i == 3 && memcmp(s + i, "\xEF\xBF\xBD", 3) == 0))
            return false;
        i = p;
    }
    return true;
}

// s with every maximal ill-formed subpart replaced by U+FFFD (Python's
// bytes.decode('utf-8', 'replace')), written to out (3 * n bytes).
static size_t utf8_replace(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t p = i;
        uint32_t cp = wgml_utf8_decode((const uint8_t *)s, n, &p);
        if (cp == WGML_UNICODE_REPLACEMENT) {
            memcpy(out + k, "\xEF\xBF\xBD", 3);
            k += 3;
        } else {
            memcpy(out + k, s + i, p - i);
            k += p - i;
        }
        i = p;
    }
    return k;
}

static uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

// Parses space-separated integers from s[0..n) into v (at most cap).
static size_t parse_ints(const char *s, size_t n, int64_t *v, size_t cap)
{
    size_t k = 0;
    const char *e = s + n;
    while (s < e) {
        while (s < e && *s == ' ') s++;
        if (s >= e) break;
        char *end;
        long long x = strtoll(s, &end, 10);
        if (end == s) break;
        if (k < cap) v[k] = x;
        k++;
        s = end;
    }
    return k;
}

// The tokenizer of a GGUF file, with tokenizer.ggml.pre replaced when pre is
// not NULL. NULL when the file is missing (*missing set) or fails to load.
static wgml_tokenizer *load_vocab(const char *path, const char *pre, bool *missing)
{
    *missing = access(path, R_OK) != 0;
    if (*missing) return NULL;
    char err[256] = "";
    wgml_gguf *g = NULL;
    if (wgml_gguf_open_file(path, &g, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        return NULL;
    }
    wgml_bpe_vocab v;
    wgml_status st = wgml_bpe_vocab_from_gguf(g, &v, err, sizeof err);
    wgml_tokenizer *tok = NULL;
    if (!st) {
        if (pre) {
            v.pre = pre;
            v.pre_len = strlen(pre);
        }
        tok = wgml_tokenizer_alloc();
        st = tok ? wgml_bpe_build(tok, &v, err, sizeof err) : WGML_ERR_OUT_OF_MEMORY;
        if (st) {
            wgml_tokenizer_free(tok);
            tok = NULL;
        }
        wgml_bpe_vocab_free(&v);
    }
    if (st) fprintf(stderr, "%s: %s\n", path, err);
    wgml_gguf_close(g);
    return tok;
}

static bool same_ids(const int32_t *a, size_t na, const int64_t *b, size_t nb)
{
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static void print_ids(const char *what, const int32_t *a, size_t na, const int64_t *b, size_t nb)
{
    fprintf(stderr, "  %s got :", what);
    for (size_t i = 0; i < na && i < 48; i++) fprintf(stderr, " %d", a[i]);
    fprintf(stderr, "\n  %s want:", what);
    for (size_t i = 0; i < nb && i < 48; i++) fprintf(stderr, " %lld", (long long)b[i]);
    fprintf(stderr, "\n");
}

// Streams ids through a decoder: every piece it hands out must be valid
// UTF-8, and all of them together the pieces joined with invalid bytes
// replaced. Returns 0 when so.
static int check_stream(const wgml_tokenizer *tok, const int32_t *ids, size_t n, bool special)
{
    wgml_token_stream *s = NULL;
    TEST_CHECK(wgml_token_stream_create(tok, special, &s) == WGML_OK, "stream_create failed");
    size_t cap = 64, len = 0, raw_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        wgml_tokenizer_token_to_piece(tok, ids[i], special, &k);
        cap += 3 * k + 8;
    }
    char *got = malloc(cap), *raw = malloc(cap), *want = malloc(3 * cap);
    TEST_CHECK(got && raw && want, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *t;
        size_t k, pk;
        const char *p = wgml_tokenizer_token_to_piece(tok, ids[i], special, &pk);
        memcpy(raw + raw_len, p, pk);
        raw_len += pk;
        if (wgml_token_stream_push(s, ids[i], &t, &k) != WGML_OK) {
            fprintf(stderr, "stream_push(%d) failed\n", ids[i]);
            rc = 1;
        } else if (!utf8_valid(t, k)) {
            fprintf(stderr, "stream handed out invalid UTF-8 after id %d: ", ids[i]);
            print_escaped(t, k);
            fprintf(stderr, "\n");
            rc = 1;
        } else {
            memcpy(got + len, t, k);
            len += k;
        }
    }
    const char *t;
    size_t k;
    wgml_token_stream_flush(s, &t, &k);
    if (!rc && !utf8_valid(t, k)) {
        fprintf(stderr, "stream flush handed out invalid UTF-8\n");
        rc = 1;
    }
    memcpy(got + len, t, k);
    len += k;
    size_t wl = utf8_replace(raw, raw_len, want);
    if (!rc && (wl != len || memcmp(got, want, len) != 0)) {
        fprintf(stderr, "stream text differs from the joined pieces:\n  got : ");
        print_escaped(got, len);
        fprintf(stderr, "\n  want: ");
        print_escaped(want, wl);
        fprintf(stderr, "\n");
        rc = 1;
    }
    free(got);
    free(raw);
    free(want);
    wgml_token_stream_free(s);
    return rc;
}

// ---------------------------------------------------------------- reference

typedef struct strs {
    char **s;
    size_t *len;
    size_t n;
} strs;

static bool load_strings(strs *out)
{
    size_t n;
    char *data = read_all(WGML_TEST_DATA_DIR "/strings.txt", &n);
    if (!data) return false;
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += data[i] == '\n';
    out->s = calloc(lines + 1, sizeof(char *));
    out->len = calloc(lines + 1, sizeof(size_t));
    out->n = 0;
    char *p = data;
    while (p < data + n) {
        char *e = memchr(p, '\n', (size_t)(data + n - p));
        if (!e) break;
        size_t h = (size_t)(e - p);
        char *s = malloc(h / 2 + 1);
        if (!s || !unhex(p, h, s)) {
            free(s);
            free(data);
            return false;
        }
        out->s[out->n] = s;
        out->len[out->n++] = h / 2;
        p = e + 1;
    }
    free(data);
    return true;
}

static void free_strings(strs *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->s[i]);
    free(s->s);
    free(s->len);
}

// Compares a detokenized text with the stored one: "=" (the input itself),
// "-" (empty) or hex.
static bool same_text(const char *got, size_t gl, const char *field, size_t fl, const char *input,
                      size_t il, char *scratch)
{
    if (fl == 1 && field[0] == '=') return gl == il && memcmp(got, input, il) == 0;
    if (fl == 1 && field[0] == '-') return gl == 0;
    if (!unhex(field, fl, scratch)) return false;
    return gl == fl / 2 && memcmp(got, scratch, gl) == 0;
}

static int check_block_hashes(const wgml_tokenizer *tok, const char *line, bool special,
                              size_t n_tokens)
{
    const char *p = strchr(line, ' ');
    TEST_CHECK(p, "bad pieces line");
    size_t block = (size_t)strtoul(p + 1, (char **)&p, 10);
    TEST_CHECK(block > 0, "bad block size");
    size_t bad = 0;
    for (size_t b0 = 0; b0 < n_tokens; b0 += block) {
        while (*p == ' ') p++;
        uint64_t want = strtoull(p, (char **)&p, 16);
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t id = b0; id < b0 + block && id < n_tokens; id++) {
            size_t k;
            const char *piece = wgml_tokenizer_token_to_piece(tok, (int32_t)id, special, &k);
            TEST_CHECK(piece, "no piece for id %zu", id);
            uint8_t len4[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)(k >> 16), (uint8_t)(k >> 24)};
            h = fnv64(h, len4, 4);
            h = fnv64(h, piece, k);
        }
        if (h != want) {
            fprintf(stderr, "pieces (special=%d) of ids %zu..%zu differ from llama.cpp's\n",
                    special, b0, b0 + block - 1);
            bad++;
        }
    }
    TEST_CHECK(!bad, "%zu blocks of pieces differ", bad);
    return 0;
}

static int test_reference(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.txt", WGML_TEST_DATA_DIR, name);
    size_t n_data;
    char *data = read_all(path, &n_data);
    TEST_CHECK(data, "cannot read %s", path);
    strs S;
    TEST_CHECK(load_strings(&S), "cannot read strings.txt");

    char vocab[512] = "", pre[64] = "";
    for (char *l = data; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (sscanf(l, "vocab %511s", vocab) == 1) continue;
        if (sscanf(l, "pre %63s", pre) == 1) continue;
    }
    TEST_CHECK(vocab[0], "%s: no vocab line", path);
    char gguf_path[1024];
    snprintf(gguf_path, sizeof gguf_path, "%s/%s", WGML_SOURCE_DIR, vocab);
    bool missing;
    wgml_tokenizer *tok = load_vocab(gguf_path, pre[0] ? pre : NULL, &missing);
    if (missing) {
        printf("SKIP: %s missing (scripts/setup.sh installs it)\n", gguf_path);
        free(data);
        free_strings(&S);
        return TEST_SKIP;
    }
    TEST_CHECK(tok, "%s did not load", gguf_path);
    const wgml_bpe *b = tok->bpe;
    size_t n_tokens = wgml_tokenizer_vocab_size(tok);

    size_t n_cases = 0, n_ids_ok = 0, n_text_ok = 0, n_round_trip = 0, failures = 0;
    char *scratch = malloc(n_data + 1);
    TEST_CHECK(scratch, "out of memory");
    for (char *l = data; l && *l && failures < 10;) {
        char *eol = strchr(l, '\n');
        if (eol) *eol = '\0';
        char *next = eol ? eol + 1 : NULL;
        int64_t v[64];
        if (strncmp(l, "n_tokens ", 9) == 0) {
            TEST_CHECK((size_t)atoll(l + 9) == n_tokens, "vocab size %zu, llama.cpp %s", n_tokens,
                       l + 9);
        } else if (strncmp(l, "ids ", 4) == 0) {
            static const int slots[] = {WGML_BPE_BOS, WGML_BPE_EOS, WGML_BPE_EOT, WGML_BPE_SEP,
                                        WGML_BPE_PAD, WGML_BPE_MASK, WGML_BPE_FIM_PRE,
                                        WGML_BPE_FIM_SUF, WGML_BPE_FIM_MID, WGML_BPE_FIM_PAD,
                                        WGML_BPE_FIM_REP, WGML_BPE_FIM_SEP};
            static const char *names[] = {"bos", "eos", "eot", "sep", "pad", "mask", "fim_pre",
                                          "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep"};
            size_t k = parse_ints(l + 4, strlen(l + 4), v, 64);
            TEST_CHECK(k == 12, "ids line has %zu values", k);
            for (size_t i = 0; i < 12; i++) {
                int32_t mine = b->ids[slots[i]];
                if (mine != v[i] && slots[i] == WGML_BPE_EOT && mine >= 0 && v[i] >= 0 &&
                    wgml_tokenizer_is_eog(tok, mine) && wgml_tokenizer_is_eog(tok, (int32_t)v[i])) {
                    // Without eot_token_id in the metadata, llama.cpp takes the
                    // first end-of-turn text in its hash map's iteration order,
                    // which the C++ library decides; wgml takes its list order.
                    // Both must end generation, which is what the id is for.
                    size_t la, lb;
                    const char *ta = wgml_tokenizer_id_to_token(tok, mine, &la);
                    const char *tb = wgml_tokenizer_id_to_token(tok, (int32_t)v[i], &lb);
                    printf("%s: NOTE end-of-turn id %d '%.*s', llama.cpp %lld '%.*s' (hash order);"
                           " both end generation\n", name, mine, (int)la, ta, (long long)v[i],
                           (int)lb, tb);
                    continue;
                }
                TEST_CHECK(mine == v[i], "%s id %d, llama.cpp %lld", names[i], mine,
                           (long long)v[i]);
            }
            TEST_CHECK(tok->special.bos == v[0] && tok->special.eos == v[1] &&
                       tok->special.eot == b->ids[WGML_BPE_EOT], "special ids not published");
        } else if (strncmp(l, "add_bos ", 8) == 0) {
            TEST_CHECK(wgml_tokenizer_adds_bos(tok) == (atoi(l + 8) != 0), "add_bos differs");
        } else if (strncmp(l, "add_eos ", 8) == 0) {
            TEST_CHECK(wgml_tokenizer_adds_eos(tok) == (atoi(l + 8) != 0), "add_eos differs");
        } else if (strncmp(l, "eog", 3) == 0) {
            int64_t *eog = malloc(n_tokens * sizeof(int64_t));
            TEST_CHECK(eog, "out of memory");
            size_t k = parse_ints(l + 3, strlen(l + 3), eog, n_tokens);
            size_t mine = 0;
            for (size_t id = 0; id < n_tokens; id++) mine += wgml_tokenizer_is_eog(tok, (int32_t)id);
            bool ok = mine == k;
            for (size_t i = 0; ok && i < k; i++) ok = wgml_tokenizer_is_eog(tok, (int32_t)eog[i]);
            free(eog);
            TEST_CHECK(ok, "end-of-generation set: %zu ids, llama.cpp %zu (or other ids)", mine, k);
            printf("%s: %zu end-of-generation ids as llama.cpp\n", name, k);
        } else if (strncmp(l, "attr ", 5) == 0) {
            size_t id = 0, bad = 0;
            for (char *p = l + 5; *p;) {
                unsigned a = (unsigned)strtoul(p, &p, 10);
                TEST_CHECK(*p == ':', "bad attr line");
                size_t c = (size_t)strtoul(p + 1, &p, 10);
                for (size_t i = 0; i < c; i++, id++) {
                    unsigned mine = wgml_tokenizer_token_attr(tok, (int32_t)id);
                    if (mine != a && bad++ < 5)
                        fprintf(stderr, "attr of %zu: %u, llama.cpp %u\n", id, mine, a);
                }
                while (*p == ' ') p++;
            }
            TEST_CHECK(id == n_tokens && !bad, "%zu attributes differ (of %zu)", bad, id);
        } else if (strncmp(l, "pieces ", 7) == 0) {
            if (check_block_hashes(tok, l, true, n_tokens)) return 1;
        } else if (strncmp(l, "pieces_plain ", 13) == 0) {
            if (check_block_hashes(tok, l, false, n_tokens)) return 1;
        } else if (l[0] == 'c' && l[1] == ' ') {
            // c I | A | B | DA | DB | DC
            char *f[6];
            size_t nf = 0;
            f[nf++] = l + 2;
            for (char *p = l + 2; *p && nf < 6; p++)
                if (*p == '|') {
                    *p = '\0';
                    f[nf++] = p + 1;
                }
            TEST_CHECK(nf == 6, "bad case line");
            for (size_t i = 0; i < 6; i++) {
                while (*f[i] == ' ') f[i]++;
                size_t k = strlen(f[i]);
                while (k && f[i][k - 1] == ' ') f[i][--k] = '\0';
            }
            if (strcmp(f[2], "=") == 0) f[2] = f[1];   // B the same as A
            size_t si = (size_t)atoll(f[0]);
            TEST_CHECK(si < S.n, "string %zu missing", si);
            const char *s = S.s[si];
            size_t sl = S.len[si];
            n_cases++;
            int64_t *want = malloc((strlen(f[1]) + strlen(f[2]) + 2) * sizeof(int64_t));
            TEST_CHECK(want, "out of memory");
            int32_t *ids[2] = {NULL, NULL};
            size_t n_ids[2] = {0, 0};
            bool case_ok = true;
            for (int mode = 0; mode < 2; mode++) {
                char err[256] = "";
                size_t nw = parse_ints(f[1 + mode], strlen(f[1 + mode]), want, SIZE_MAX);
                wgml_status st = wgml_tokenizer_tokenize(tok, s, sl, mode == 0, mode == 0,
                                                         &ids[mode], &n_ids[mode], err, sizeof err);
                if (st || !same_ids(ids[mode], n_ids[mode], want, nw)) {
                    fprintf(stderr, "%s: string %zu \"", name, si);
                    print_escaped(s, sl);
                    fprintf(stderr, "\" (%s): %s\n", mode == 0 ? "add_special, parse_special"
                                                             : "plain", st ? err : "ids differ");
                    print_ids("ids", ids[mode], n_ids[mode], want, nw);
                    case_ok = false;
                } else {
                    n_ids_ok++;
                }
                if (mode == 0 && !st) {
                    // The Hugging Face style call: parse_special on, no truncation.
                    int32_t *e = NULL;
                    size_t ne = 0;
                    st = wgml_tokenizer_encode(tok, s, sl, true, WGML_TOKENIZER_NO_TRUNCATION, &e,
                                               &ne, err, sizeof err);
                    if (st || ne != n_ids[0] || (ne && memcmp(e, ids[0], ne * sizeof(int32_t)))) {
                        fprintf(stderr, "%s: string %zu: wgml_tokenizer_encode differs from tokenize\n",
                                name, si);
                        case_ok = false;
                    }
                    wgml_tokenizer_ids_free(e);
                }
            }
            // Texts back, from llama.cpp's ids (so a wrong id above does not
            // hide a right decoder).
            for (int d = 0; d < 3; d++) {
                int mode = d == 1;
                size_t nw = parse_ints(f[1 + mode], strlen(f[1 + mode]), want, SIZE_MAX);
                int32_t *ref = malloc((nw + 1) * sizeof(int32_t));
                TEST_CHECK(ref, "out of memory");
                for (size_t i = 0; i < nw; i++) ref[i] = (int32_t)want[i];
                bool remove_special = d == 2, unparse = d == 0;
                char *text = NULL, err[256] = "";
                size_t tl = 0;
                wgml_status st = wgml_tokenizer_detokenize(tok, ref, nw, remove_special, unparse,
                                                           &text, &tl, err, sizeof err);
                const char *fd = f[3 + d];
                if (st || !same_text(text, tl, fd, strlen(fd), s, sl, scratch)) {
                    fprintf(stderr, "%s: string %zu \"", name, si);
                    print_escaped(s, sl);
                    fprintf(stderr, "\": detokenize(remove_special=%d, unparse_special=%d) %s\n  got : ",
                            remove_special, unparse, st ? err : "differs");
                    if (text) print_escaped(text, tl);
                    fprintf(stderr, "\n  want: %s\n", fd);
                    case_ok = false;
                } else {
                    n_text_ok++;
                    if (d == 1 && fd[0] == '=' && fd[1] == '\0') n_round_trip++;
                }
                free(text);
                if (d == 0 && check_stream(tok, ref, nw, true)) case_ok = false;
                if (d == 1 && check_stream(tok, ref, nw, false)) case_ok = false;
                free(ref);
            }
            free(want);
            free(ids[0]);
            free(ids[1]);
            if (!case_ok) failures++;
        }
        l = next;
    }
    free(scratch);
    free(data);
    free_strings(&S);
    wgml_tokenizer_free(tok);
    printf("%s: %zu strings; ids equal to llama.cpp's in %zu of %zu encodings, texts in %zu of %zu"
           " decodings; decode(encode(s)) == s for %zu strings, as for llama.cpp\n",
           name, n_cases, n_ids_ok, 2 * n_cases, n_text_ok, 3 * n_cases, n_round_trip);
    TEST_CHECK(n_cases >= 300, "only %zu strings", n_cases);
    TEST_CHECK(!failures, "%zu strings differ from llama.cpp", failures);
    return 0;
}

// ---------------------------------------------------------------- tiny vocabularies

// A vocabulary of n tokens whose texts are the NUL-terminated strings in
// texts (types and scores optional).
typedef struct tiny {
    wgml_bpe_vocab v;
    const char *texts[600];
    size_t lens[600];
    int32_t types[600];
    float scores[600];
    const char *merges[64];
    size_t merge_lens[64];
    char bytes[256][8];
} tiny;

static void tiny_add(tiny *t, const char *s, int32_t type, float score)
{
    size_t i = t->v.n_tokens++;
    t->texts[i] = s;
    t->lens[i] = strlen(s);
    t->types[i] = type;
    t->scores[i] = score;
}

static void tiny_init(tiny *t, const char *model)
{
    memset(t, 0, sizeof(*t));
    wgml_bpe_vocab_init(&t->v);
    t->v.model = model;
    t->v.model_len = strlen(model);
    t->v.tokens = t->texts;
    t->v.token_lens = t->lens;
    t->v.types = t->types;
    t->v.scores = t->scores;
}

static wgml_tokenizer *tiny_build(tiny *t, char *err, size_t es, wgml_status *st_out)
{
    wgml_tokenizer *tok = wgml_tokenizer_alloc();
    wgml_status st = tok ? wgml_bpe_build(tok, &t->v, err, es) : WGML_ERR_OUT_OF_MEMORY;
    if (st_out) *st_out = st;
    if (st) {
        wgml_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

// SentencePiece: <unk> <s> </s>, the 256 byte tokens (ids 3..258), then
// pieces.
static void tiny_spm(tiny *t)
{
    tiny_init(t, "llama");
    tiny_add(t, "<unk>", 2, 0);
    tiny_add(t, "<s>", 3, 0);
    tiny_add(t, "</s>", 3, 0);
    for (int c = 0; c < 256; c++) {
        snprintf(t->bytes[c], sizeof t->bytes[c], "<0x%02X>", c);
        tiny_add(t, t->bytes[c], 6, 0);
    }
    tiny_add(t, "\xE2\x96\x81", 1, -1);        // 259 ▁
    tiny_add(t, "a", 1, -2);                   // 260
    tiny_add(t, "b", 1, -2);                   // 261
    tiny_add(t, "\xE2\x96\x81" "a", 1, -3);    // 262 ▁a
    tiny_add(t, "ab", 1, -1.5f);               // 263
    tiny_add(t, "\xE2\x96\x81" "ab", 1, -0.5f);// 264 ▁ab
    tiny_add(t, "<|im_end|>", 1, 0);           // 265: ends generation by its text
}

#define EXPECT_IDS(tok, text, add, parse, ...)                                            \
    do {                                                                                  \
        const int64_t want_[] = {__VA_ARGS__};                                            \
        int32_t *got_ = NULL;                                                             \
        size_t n_ = 0;                                                                    \
        char e_[256] = "";                                                                \
        wgml_status st_ = wgml_tokenizer_tokenize(tok, text, sizeof(text) - 1, add, parse, \
                                                  &got_, &n_, e_, sizeof e_);             \
        bool ok_ = !st_ && same_ids(got_, n_, want_, sizeof want_ / sizeof want_[0]);     \
        if (!ok_) {                                                                       \
            fprintf(stderr, "\"%s\": %s\n", text, st_ ? e_ : "ids differ");               \
            print_ids("ids", got_, n_, want_, sizeof want_ / sizeof want_[0]);            \
        }                                                                                 \
        free(got_);                                                                       \
        TEST_CHECK(ok_, "tokenize \"%s\"", text);                                         \
    } while (0)

static int push_expect(wgml_token_stream *s, int32_t id, const char *want)
{
    const char *t;
    size_t k;
    TEST_CHECK(wgml_token_stream_push(s, id, &t, &k) == WGML_OK, "push %d", id);
    TEST_CHECK(k == strlen(want) && memcmp(t, want, k) == 0, "push %d gave \"%.*s\", want \"%s\"",
               id, (int)k, t, want);
    return 0;
}

static int flush_expect(wgml_token_stream *s, const char *want)
{
    const char *t;
    size_t k;
    wgml_token_stream_flush(s, &t, &k);
    TEST_CHECK(k == strlen(want) && memcmp(t, want, k) == 0, "flush gave \"%.*s\", want \"%s\"",
               (int)k, t, want);
    return 0;
}

// GPT-2's byte map by its definition: the printable bytes keep their value,
// the others take U+0100 on in byte order.
static int check_byte_map(void)
{
    uint32_t next = 0x100;
    for (unsigned b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t want = printable ? b : next++;
        TEST_CHECK(wgml_bpe_byte_cp((uint8_t)b) == want, "byte %02X -> U+%04X", b,
                   wgml_bpe_byte_cp((uint8_t)b));
        TEST_CHECK(wgml_bpe_cp_byte(want) == (int)b, "U+%04X -> byte", want);
    }
    TEST_CHECK(next == 0x144 && wgml_bpe_cp_byte(0x144) == -1 && wgml_bpe_cp_byte(0xAD) == -1 &&
               wgml_bpe_cp_byte(0x20) == -1, "byte map ends");
    return 0;
}

static int test_unit(void)
{
    if (check_byte_map()) return 1;
    char err[256];
    wgml_status st;
    tiny *t = malloc(sizeof(tiny));
    TEST_CHECK(t, "out of memory");

    // SentencePiece. "ab" is "▁ab" after the space prefix: ▁ a b -> (▁a -3,
    // ab -1.5: ab first) ▁ ab -> ▁ab (-0.5).
    tiny_spm(t);
    wgml_tokenizer *tok = tiny_build(t, err, sizeof err, &st);
    TEST_CHECK(tok, "spm: %s", err);
    EXPECT_IDS(tok, "ab", false, false, 264);
    EXPECT_IDS(tok, "ab", true, false, 1, 264);           // add_bos is SentencePiece's default
    EXPECT_IDS(tok, "", true, false, 1);
    EXPECT_IDS(tok, "", false, false);
    // "é" (C3 A9) has no token: its bytes. "▁" alone is a token.
    EXPECT_IDS(tok, "\xC3\xA9", false, false, 259, 3 + 0xC3, 3 + 0xA9);
    // A lone continuation byte is one symbol; a truncated sequence runs to
    // the end of the text.
    EXPECT_IDS(tok, "a\x80", false, false, 262, 3 + 0x80);
    EXPECT_IDS(tok, "a\xE4", false, false, 262, 3 + 0xE4);
    // Control tokens only with parse_special; after one, a space goes first again.
    EXPECT_IDS(tok, "<s>ab", false, true, 1, 264);
    EXPECT_IDS(tok, "ab</s>ab", false, true, 264, 2, 264);
    TEST_CHECK(wgml_tokenizer_is_eog(tok, 2) && wgml_tokenizer_is_eog(tok, 265) &&
               !wgml_tokenizer_is_eog(tok, 1) && !wgml_tokenizer_is_eog(tok, 264), "eog set");
    TEST_CHECK(wgml_tokenizer_token_attr(tok, 265) == (WGML_TOKEN_ATTR_NORMAL | WGML_TOKEN_ATTR_CONTROL),
               "<|im_end|> becomes a control token");
    TEST_CHECK(tok->special.eot == 265, "<|im_end|> is the end of turn");
    // Pieces: ▁ as a space, bytes as bytes, control tokens hidden unless special.
    size_t k;
    const char *p = wgml_tokenizer_token_to_piece(tok, 264, false, &k);
    TEST_CHECK(p && k == 3 && memcmp(p, " ab", 3) == 0, "piece of ▁ab");
    p = wgml_tokenizer_token_to_piece(tok, 3 + 0xE4, false, &k);
    TEST_CHECK(p && k == 1 && (uint8_t)p[0] == 0xE4, "piece of <0xE4>");
    p = wgml_tokenizer_token_to_piece(tok, 2, false, &k);
    TEST_CHECK(p && k == 0, "</s> hidden");
    p = wgml_tokenizer_token_to_piece(tok, 2, true, &k);
    TEST_CHECK(p && k == 4 && memcmp(p, "</s>", 4) == 0, "</s> shown");
    TEST_CHECK(!wgml_tokenizer_token_to_piece(tok, 266, true, &k), "id past the end");
    // detokenize drops the space SentencePiece puts first, but (as llama.cpp)
    // not after a BOS, whether or not remove_special drops the BOS.
    int32_t ids[] = {1, 264, 259, 3 + 0xC3, 3 + 0xA9, 2};
    char *text;
    size_t tl;
    TEST_CHECK(wgml_tokenizer_detokenize(tok, ids, 6, false, false, &text, &tl, err, sizeof err) == 0,
               "detokenize: %s", err);
    TEST_CHECK(tl == 6 && memcmp(text, " ab \xC3\xA9", 6) == 0, "detokenize gave \"%s\"", text);
    free(text);
    TEST_CHECK(wgml_tokenizer_detokenize(tok, ids + 1, 4, false, false, &text, &tl, err, sizeof err) == 0,
               "detokenize: %s", err);
    TEST_CHECK(tl == 5 && memcmp(text, "ab \xC3\xA9", 5) == 0, "detokenize gave \"%s\"", text);
    free(text);
    TEST_CHECK(wgml_tokenizer_detokenize(tok, ids, 6, false, true, &text, &tl, err, sizeof err) == 0,
               "detokenize: %s", err);
    TEST_CHECK(tl == 13 && memcmp(text, "<s> ab \xC3\xA9</s>", 13) == 0, "detokenize gave \"%s\"", text);
    free(text);
    int32_t bad_ids[] = {264, 999};
    TEST_CHECK(wgml_tokenizer_detokenize(tok, bad_ids, 2, false, false, &text, &tl, err, sizeof err) ==
                   WGML_ERR_INVALID_ARGUMENT, "id out of range refused");

    // The stream holds the start of a character until it completes: 中 is E4 B8 AD.
    wgml_token_stream *s;
    TEST_CHECK(wgml_token_stream_create(tok, false, &s) == WGML_OK, "stream");
    if (push_expect(s, 3 + 0xE4, "") || push_expect(s, 3 + 0xB8, "") ||
        push_expect(s, 3 + 0xAD, "\xE4\xB8\xAD"))
        return 1;
    // A byte that can start nothing comes out at once as U+FFFD.
    if (push_expect(s, 3 + 0xFF, "\xEF\xBF\xBD")) return 1;
    // A started character cut short by a token: U+FFFD, then the token.
    if (push_expect(s, 3 + 0xE4, "") || push_expect(s, 264, "\xEF\xBF\xBD ab")) return 1;
    // Hidden control tokens leave the held bytes held.
    if (push_expect(s, 3 + 0xF0, "") || push_expect(s, 3 + 0x9F, "") || push_expect(s, 2, "") ||
        flush_expect(s, "\xEF\xBF\xBD"))
        return 1;
    // An ill-formed second byte ends the subpart: E0 80 is two of them.
    if (push_expect(s, 3 + 0xE0, "") || push_expect(s, 3 + 0x80, "\xEF\xBF\xBD\xEF\xBF\xBD")) return 1;
    TEST_CHECK(wgml_token_stream_push(s, -1, NULL, NULL) == WGML_ERR_INVALID_ARGUMENT, "bad id");
    if (flush_expect(s, "")) return 1;
    wgml_token_stream_free(s);

    // EOS on request, and a vocabulary that asks for a BOS it lacks.
    t->v.add_eos = 1;
    wgml_tokenizer_free(tok);
    tok = tiny_build(t, err, sizeof err, &st);
    TEST_CHECK(tok, "spm: %s", err);
    EXPECT_IDS(tok, "ab", true, false, 1, 264, 2);
    // The Hugging Face style call truncates the text's ids, keeping BOS and EOS.
    int32_t *enc = NULL;
    size_t n_enc = 0;
    TEST_CHECK(wgml_tokenizer_encode(tok, "ab ab ab", 8, true, 3, &enc, &n_enc, err, sizeof err) ==
                   WGML_OK && n_enc == 3 && enc[0] == 1 && enc[1] == 264 && enc[2] == 2,
               "encode with max_length 3");
    wgml_tokenizer_ids_free(enc);
    TEST_CHECK(wgml_tokenizer_encode(tok, "ab", 2, true, 1, &enc, &n_enc, err, sizeof err) ==
                   WGML_ERR_INVALID_ARGUMENT, "max_length 1 cannot hold BOS and EOS");
    wgml_tokenizer_free(tok);
    t->v.ids[WGML_BPE_BOS] = 100000;   // out of range: the default (1) stays
    tok = tiny_build(t, err, sizeof err, &st);
    TEST_CHECK(tok && tok->special.bos == 1, "out-of-range BOS ignored");
    wgml_tokenizer_free(tok);

    // Byte-level BPE: the 256 byte characters, "ab", "abc" and special tokens.
    tiny_init(t, "gpt2");
    for (int c = 0; c < 256; c++) {
        uint8_t u[4];
        size_t n = wgml_utf8_encode(wgml_bpe_byte_cp((uint8_t)c), u);
        memcpy(t->bytes[c], u, n);
        t->bytes[c][n] = '\0';
        tiny_add(t, t->bytes[c], 1, 0);
    }
    tiny_add(t, "ab", 1, 0);                 // 256
    tiny_add(t, "abc", 1, 0);                // 257
    tiny_add(t, "bcd", 3, 0);                // 258 control
    tiny_add(t, "xy", 4, 0);                 // 259 user-defined
    tiny_add(t, "\xC4\xA0" "ab", 1, 0);      // 260 " ab"
    tiny_add(t, "<|endoftext|>", 3, 0);      // 261
    t->merges[0] = "a b";
    t->merges[1] = "ab c";
    t->merges[2] = "\xC4\xA0 ab";
    t->merges[3] = "a b";                    // again: the first rank stays
    for (int i = 0; i < 4; i++) t->merge_lens[i] = strlen(t->merges[i]);
    t->v.merges = t->merges;
    t->v.merge_lens = t->merge_lens;
    t->v.n_merges = 4;
    t->v.pre = "gpt-2";
    t->v.pre_len = 5;
    tok = tiny_build(t, err, sizeof err, &st);
    TEST_CHECK(tok, "bpe: %s", err);
    EXPECT_IDS(tok, "abc", false, false, 257);
    EXPECT_IDS(tok, "abc ab", false, false, 257, 260);
    // "bcd" (longer) takes its text before "ab" could: a, bcd.
    EXPECT_IDS(tok, "abcd", false, true, 'a', 258);
    EXPECT_IDS(tok, "abcd", false, false, 257, 'd');
    // Past U+10FFFF (F4 90.., F5..F7 leads): llama.cpp aborts on these
    // (an uncaught exception when it re-encodes the code point); wgml passes
    // the bytes through.
    EXPECT_IDS(tok, "\xF4\x90\x80\x80", false, false, 0xF4, 0x90, 0x80, 0x80);
    EXPECT_IDS(tok, "a\xF7\xBF\xBF\xBF", false, false, 'a', 0xF7, 0xBF, 0xBF, 0xBF);
    // User-defined tokens are matched without parse_special too.
    EXPECT_IDS(tok, "axyb", false, false, 'a', 259, 'b');
    // The default for byte-level BPE: no BOS; 11 is the default BOS/EOS id.
    EXPECT_IDS(tok, "ab", true, true, 256);
    TEST_CHECK(tok->special.bos == 11 && tok->special.eos == 11, "byte-level defaults");
    TEST_CHECK(wgml_tokenizer_is_eog(tok, 261) && wgml_tokenizer_is_eog(tok, 11), "eog");
    p = wgml_tokenizer_token_to_piece(tok, 260, false, &k);
    TEST_CHECK(p && k == 3 && memcmp(p, " ab", 3) == 0, "byte-level piece");
    wgml_tokenizer_free(tok);

    // Refused vocabularies.
    t->v.pre = "no-such-pre";
    t->v.pre_len = strlen(t->v.pre);
    TEST_CHECK(!tiny_build(t, err, sizeof err, &st) && st == WGML_ERR_UNSUPPORTED &&
               strstr(err, "no-such-pre"), "unknown pre-tokenizer: %s", err);
    t->v.pre = NULL;
    t->v.merges = NULL;
    TEST_CHECK(!tiny_build(t, err, sizeof err, &st) && st == WGML_ERR_BAD_FILE, "no merges: %s", err);
    t->v.model = "bert";
    t->v.model_len = 4;
    TEST_CHECK(!tiny_build(t, err, sizeof err, &st) && st == WGML_ERR_UNSUPPORTED, "bert: %s", err);
    t->v.model = "gpt2";
    t->v.model_len = 4;
    t->v.n_tokens = 0;
    TEST_CHECK(!tiny_build(t, err, sizeof err, &st) && st == WGML_ERR_BAD_FILE, "no tokens: %s", err);
    free(t);
    printf("unit: ok\n");
    return 0;
}

// ---------------------------------------------------------------- GGUF metadata

static wgml_gguf_writer *spm_writer(size_t n_scores, bool types_as_f32)
{
    static const char *tokens[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "\xE2\x96\x81" "a"};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1};
    static const float scores[] = {0, 0, 0, -1, -2, -0.5f};
    static const float ftypes[] = {2, 3, 3, 1, 1, 1};
    wgml_gguf_writer *w = wgml_gguf_writer_create();
    if (!w) return NULL;
    wgml_gguf_writer_set_str(w, "general.architecture", "llama");
    wgml_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    wgml_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 6);
    wgml_gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, n_scores);
    if (types_as_f32) wgml_gguf_writer_set_arr_f32(w, "tokenizer.ggml.token_type", ftypes, 6);
    else wgml_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, 6);
    wgml_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    wgml_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    wgml_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false);
    return w;
}

static int test_gguf(void)
{
    char path[] = "/tmp/wgml_test_bpe_XXXXXX";
    int fd = mkstemp(path);
    TEST_CHECK(fd >= 0, "mkstemp");
    close(fd);
    char err[256];
    wgml_tokenizer *tok = NULL;

    wgml_gguf_writer *w = spm_writer(6, false);
    TEST_CHECK(w && wgml_gguf_writer_write_file(w, path, NULL, NULL, err, sizeof err) == WGML_OK,
               "write: %s", err);
    wgml_gguf_writer_free(w);
    TEST_CHECK(wgml_tokenizer_load_gguf_file(path, &tok, err, sizeof err) == WGML_OK, "load: %s", err);
    TEST_CHECK(!wgml_tokenizer_adds_bos(tok), "add_bos_token false read");
    EXPECT_IDS(tok, "a", true, true, 5);
    EXPECT_IDS(tok, "a a", false, false, 5, 5);
    wgml_tokenizer_free(tok);

    // Scores shorter than the tokens, token types of the wrong type, no model.
    struct { wgml_gguf_writer *w; const char *what; } bad[3] = {
        {spm_writer(5, false), "short scores"},
        {spm_writer(6, true), "float token types"},
        {wgml_gguf_writer_create(), "no tokenizer"},
    };
    for (int i = 0; i < 3; i++) {
        TEST_CHECK(bad[i].w, "writer");
        if (i == 2) wgml_gguf_writer_set_str(bad[i].w, "general.architecture", "llama");
        TEST_CHECK(wgml_gguf_writer_write_file(bad[i].w, path, NULL, NULL, err, sizeof err) == WGML_OK,
                   "write: %s", err);
        wgml_gguf_writer_free(bad[i].w);
        tok = NULL;
        wgml_status st = wgml_tokenizer_load_gguf_file(path, &tok, err, sizeof err);
        TEST_CHECK(st == WGML_ERR_BAD_FILE && !tok && err[0], "%s: status %s", bad[i].what,
                   wgml_status_name(st));
        printf("gguf: %s refused: %s\n", bad[i].what, err);
    }
    unlink(path);
    return 0;
}

// ---------------------------------------------------------------- linear time

// What test_linear_time runs: a unit repeated to n bytes, tokenized.
typedef struct {
    const wgml_tokenizer *tok;
    const char *unit;
} tokenize_job;

static double time_tokenize(void *arg, size_t n)
{
    const tokenize_job *job = arg;
    const wgml_tokenizer *tok = job->tok;
    const char *unit = job->unit;
    size_t ul = strlen(unit);
    char *text = malloc(n);
    if (!text) return -1;
    for (size_t i = 0; i < n; i++) text[i] = unit[i % ul];
    int32_t *ids = NULL;
    size_t count = 0;
    double t0 = test_cpu_seconds();
    wgml_status st = wgml_tokenizer_tokenize(tok, text, n, true, true, &ids, &count, NULL, 0);
    double t = test_cpu_seconds() - t0;
    free(ids);
    free(text);
    return st ? -1 : t;
}

static const struct {
    const char *file, *pre;
} vocabs[] = {
    {".deps/vocab/ggml-vocab-gpt-2.gguf", NULL},
    {".deps/vocab/ggml-vocab-gpt-2.gguf", "default"},
    {".deps/vocab/ggml-vocab-llama-bpe.gguf", NULL},
    {".deps/vocab/ggml-vocab-qwen2.gguf", NULL},
    {".deps/vocab/ggml-vocab-llama-spm.gguf", NULL},
    {".deps/vocab/ggml-vocab-phi-3.gguf", NULL},
    {".deps/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf", NULL},
};
#define N_VOCABS (sizeof vocabs / sizeof vocabs[0])

static wgml_tokenizer *open_vocab(size_t i)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", WGML_SOURCE_DIR, vocabs[i].file);
    bool missing;
    wgml_tokenizer *tok = load_vocab(path, vocabs[i].pre, &missing);
    if (missing) printf("SKIP: %s missing (scripts/setup.sh installs it)\n", path);
    return tok;
}

static int test_linear(void)
{
    // Per vocabulary, the inputs that stress its pre-tokenizer and merges:
    // one long word, one long run of spaces or digits, a special token's
    // prefix over and over (the splitter's worst case).
    static const struct {
        size_t vocab;
        const char *name, *unit;
    } inputs[] = {
        {2, "llama3 'a'", "a"},
        {2, "llama3 ' '", " "},
        {2, "llama3 '1'", "1"},
        {0, "gpt2 '\\n'", "\n"},
        {1, "default '!'", "!"},
        {3, "qwen2 CJK", "\xe4\xb8\xad"},
        {4, "spm 'a'", "a"},
        {4, "spm emoji", "\xf0\x9f\x98\x80"},
        {6, "smollm '1'", "1"},
        {6, "smollm <|im_star", "<|im_star"},
        {6, "smollm a<|im_end|>", "a<|im_end|>"},
        {2, "llama3 <|eot_id|>", "<|eot_id|>b"},
        {6, "smollm bad bytes", "\xf0\x9f\x98"},
        {5, "phi3 <|end|> + spaces", "<|end|>   "},
    };
    wgml_tokenizer *toks[N_VOCABS] = {0};
    size_t ran = 0;
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        size_t v = inputs[i].vocab;
        if (!toks[v]) toks[v] = open_vocab(v);
        if (!toks[v]) continue;
        ran++;
        tokenize_job job = {toks[v], inputs[i].unit};
        int linear = test_linear_time(inputs[i].name, time_tokenize, &job);
        TEST_CHECK(linear >= 0, "%s: tokenizing failed", inputs[i].name);
        TEST_CHECK(linear, "%s did not tokenize in linear time", inputs[i].name);
    }
    for (size_t v = 0; v < N_VOCABS; v++) wgml_tokenizer_free(toks[v]);
    return ran ? 0 : TEST_SKIP;
}

// ---------------------------------------------------------------- random bytes

static int test_invalid(void)
{
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    size_t ran = 0, total_ids = 0;
    for (size_t v = 0; v < N_VOCABS; v++) {
        wgml_tokenizer *tok = open_vocab(v);
        if (!tok) continue;
        ran++;
        size_t n_tokens = wgml_tokenizer_vocab_size(tok);
        char text[96];
        for (int it = 0; it < 3000; it++) {
            size_t n = (size_t)(seed >> 58) + 1;
            for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                unsigned r = (unsigned)(seed >> 33);
                // Mostly the bytes that make UTF-8 interesting.
                static const uint8_t hot[] = {0x80, 0xBF, 0xC0, 0xC1, 0xC3, 0xDF, 0xE0, 0xE4,
                                              0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xF7, 0xF8, 0xFF,
                                              ' ', '\n', 'a', '1', '<', '|', '\'', 's'};
                text[i] = (char)(r % 3 ? hot[(r >> 8) % sizeof hot] : (uint8_t)(r >> 16));
            }
            for (int mode = 0; mode < 2; mode++) {
                int32_t *ids = NULL;
                size_t k = 0;
                char err[256];
                wgml_status st = wgml_tokenizer_tokenize(tok, text, n, mode, mode, &ids, &k, err,
                                                         sizeof err);
                TEST_CHECK(st == WGML_OK, "tokenize random bytes: %s", err);
                for (size_t i = 0; i < k; i++)
                    TEST_CHECK(ids[i] >= 0 && (size_t)ids[i] < n_tokens, "id %d out of range", ids[i]);
                total_ids += k;
                char *back = NULL;
                size_t bl;
                TEST_CHECK(wgml_tokenizer_detokenize(tok, ids, k, mode, mode, &back, &bl, err,
                                                     sizeof err) == WGML_OK, "detokenize: %s", err);
                free(back);
                if (check_stream(tok, ids, k, mode)) return 1;
                free(ids);
            }
        }
        wgml_tokenizer_free(tok);
    }
    printf("invalid: %zu vocabularies, 3000 random byte strings each, %zu ids, all valid\n", ran,
           total_ids);
    return ran ? 0 : TEST_SKIP;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "reference") == 0) return test_reference(argv[2]);
    static const struct {
        const char *name;
        int (*fn)(void);
    } tests[] = {
        {"unit", test_unit}, {"gguf", test_gguf}, {"linear", test_linear}, {"invalid", test_invalid},
    };
    for (size_t i = 0; argc == 2 && i < sizeof(tests) / sizeof(tests[0]); i++)
        if (strcmp(argv[1], tests[i].name) == 0) return tests[i].fn();
    fprintf(stderr, "usage: %s unit|gguf|linear|invalid | reference CASE\n", argv[0]);
    return 1;
}

// UTF-8 and Unicode property look-ups over the generated tables.
#include "tokenizer/unicode.h"

// ---------------------------------------------------------------- UTF-8

// The well-formed sequences are those of Table 3-7 in the Unicode Standard
// (chapter 3.9): the second byte's range depends on the lead byte, which is
// what rules out overlong forms (E0 80..9F, F0 80..8F), surrogates
// (ED A0..BF) and values past U+10FFFF (F4 90..BF, F5..FF).
uint32_t wgml_utf8_decode(const uint8_t *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    uint8_t b0 = s[i];
    if (b0 < 0x80) {
        *pos = i + 1;
        return b0;
    }
    size_t need;        // continuation bytes after the lead
    uint8_t lo = 0x80, hi = 0xBF;   // allowed range of the second byte
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        cp = b0 & 0x0Fu;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        cp = b0 & 0x07u;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        // A continuation byte, C0, C1 or F5..FF: never part of a sequence.
        *pos = i + 1;
        return WGML_UNICODE_REPLACEMENT;
    }
    // A maximal subpart ends at the first byte that cannot continue it; that
    // byte is not consumed, so it starts the next code point.
    i++;
    for (size_t k = 0; k < need; k++, i++) {
        uint8_t b = i < len ? s[i] : 0;
        if (i >= len || b < lo || b > hi) {
            *pos = i;
            return WGML_UNICODE_REPLACEMENT;
        }
        cp = (cp << 6) | (b & 0x3Fu);
        lo = 0x80;
        hi = 0xBF;
    }
    *pos = i;
    return cp;
}

size_t wgml_utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

// ---------------------------------------------------------------- look-ups

// The range holding cp, or NULL; ranges are sorted and disjoint.
static const wgml_unicode_range *range_find(const wgml_unicode_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first) hi = mid;
        else if (cp > r[mid].last) lo = mid + 1;
        else return &r[mid];
    }
    return NULL;
}

unsigned wgml_unicode_props_of(uint32_t cp)
{
    const wgml_unicode_range *r = range_find(wgml_unicode_props, wgml_unicode_props_count, cp);
    return r ? r->value : 0;
}

unsigned wgml_unicode_category(uint32_t cp)
{
    const wgml_unicode_range *r = range_find(wgml_unicode_gc_ranges, wgml_unicode_gc_ranges_count,
                                             cp);
    return r ? r->value : WGML_UCAT_UNASSIGNED;
}

uint8_t wgml_unicode_ccc(uint32_t cp)
{
    if (cp < 0x300) return 0;   // nothing below the combining diacritics block
    const wgml_unicode_range *r = range_find(wgml_unicode_ccc_ranges,
                                             wgml_unicode_ccc_ranges_count, cp);
    return r ? (uint8_t)r->value : 0;
}

size_t wgml_unicode_lower(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    size_t lo = 0, hi = wgml_unicode_lower_multi_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const wgml_unicode_multi *m = &wgml_unicode_lower_multi[mid];
        if (cp < m->cp) {
            hi = mid;
        } else if (cp > m->cp) {
            lo = mid + 1;
        } else {
            size_t n = 0;
            while (n < 3 && m->to[n]) {
                out[n] = m->to[n];
                n++;
            }
            return n;
        }
    }
    // The last range starting at or before cp is the only one that can hold it.
    lo = 0;
    hi = wgml_unicode_lower_ranges_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (wgml_unicode_lower_ranges[mid].first <= cp) lo = mid + 1;
        else hi = mid;
    }
    out[0] = cp;
    if (lo > 0) {
        const wgml_unicode_case_range *r = &wgml_unicode_lower_ranges[lo - 1];
        if (cp <= r->last && (cp - r->first) % r->stride == 0)
            out[0] = (uint32_t)((int64_t)cp + r->delta);
    }
    return 1;
}

static const wgml_unicode_decomp *decomp_find(uint32_t cp)
{
    size_t lo = 0, hi = wgml_unicode_decomps_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < wgml_unicode_decomps[mid].cp) hi = mid;
        else if (cp > wgml_unicode_decomps[mid].cp) lo = mid + 1;
        else return &wgml_unicode_decomps[mid];
    }
    return NULL;
}

// Appends the full decomposition of cp to out[*n]; the generator checked
// that no code point needs more than WGML_UNICODE_MAX_DECOMP.
static void decompose_into(uint32_t cp, uint32_t *out, size_t *n, int depth)
{
    const wgml_unicode_decomp *d = cp >= 0xC0 && depth < 8 ? decomp_find(cp) : NULL;
    if (!d) {
        if (*n < WGML_UNICODE_MAX_DECOMP) out[(*n)++] = cp;
        return;
    }
    decompose_into(d->a, out, n, depth + 1);
    if (d->b) decompose_into(d->b, out, n, depth + 1);
}

// Hangul syllables (Unicode Standard 3.12, "Conjoining Jamo Behavior").
enum {
    HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
    HANGUL_V_COUNT = 21, HANGUL_T_COUNT = 28,
    HANGUL_N = HANGUL_V_COUNT * HANGUL_T_COUNT, HANGUL_COUNT = 19 * HANGUL_N,
};

size_t wgml_unicode_decompose(uint32_t cp, uint32_t out[WGML_UNICODE_MAX_DECOMP])
{
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_COUNT) {
        uint32_t s = cp - HANGUL_S;
        out[0] = HANGUL_L + s / HANGUL_N;
        out[1] = HANGUL_V + (s % HANGUL_N) / HANGUL_T_COUNT;
        if (s % HANGUL_T_COUNT == 0) return 2;
        out[2] = HANGUL_T + s % HANGUL_T_COUNT;
        return 3;
    }
    size_t n = 0;
    decompose_into(cp, out, &n, 0);
    return n;
}

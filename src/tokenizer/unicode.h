/*
 * The Unicode layer of the tokenizers: UTF-8 decoding with replacement,
 * property bits, lowercase, and NFD as Hugging Face `tokenizers` computes
 * them. The data is generated (unicode_tables.c, by
 * scripts/gen_unicode_tables.py); its header says which Unicode version it is
 * and how it was aligned with the versions inside `tokenizers`.
 *
 * Code points are uint32_t; the decoder never produces a surrogate or a value
 * above U+10FFFF.
 */
#ifndef WGML_TOKENIZER_UNICODE_H
#define WGML_TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WGML_UNICODE_REPLACEMENT 0xFFFDu

// Property bits of wgml_unicode_props.
enum {
    WGML_UNICODE_WHITESPACE = 1,   // White_Space (Rust's char::is_whitespace)
    WGML_UNICODE_OTHER = 2,        // Cc, Cf or Co
    WGML_UNICODE_PUNCT = 4,        // P* (Unicode only; no ASCII symbols)
    WGML_UNICODE_MN = 8,           // Mn, nonspacing mark
};

// General-category classes as llama.cpp's BPE pre-tokenizers group them
// (\p{L}, \p{N}, ...), from Unicode 15.1 (wgml_unicode_gc_ranges).
enum {
    WGML_UCAT_UNASSIGNED = 0,      // Cn, and anything past U+10FFFF
    WGML_UCAT_LETTER = 1,          // L*
    WGML_UCAT_NUMBER = 2,          // N*
    WGML_UCAT_MARK = 3,            // M*
    WGML_UCAT_PUNCT = 4,           // P*
    WGML_UCAT_SYMBOL = 5,          // S*
    WGML_UCAT_SEPARATOR = 6,       // Z*
    WGML_UCAT_CONTROL = 7,         // Cc, Cf, Co, Cs
};

// ---------------------------------------------------------------- UTF-8

// Decodes the code point at s[*pos] (pos < len) and advances *pos. An
// ill-formed sequence gives U+FFFD for each maximal subpart (Unicode 16,
// section 3.9, "U+FFFD Substitution of Maximal Subparts"), which is what
// Python's bytes.decode('utf-8', 'replace') does: overlong forms,
// surrogates, values above U+10FFFF, truncated sequences and lone
// continuation bytes never pass.
uint32_t wgml_utf8_decode(const uint8_t *s, size_t len, size_t *pos);

// Writes cp (a scalar value) as 1-4 bytes; returns the count.
size_t wgml_utf8_encode(uint32_t cp, uint8_t out[4]);

// ---------------------------------------------------------------- properties

// WGML_UNICODE_* bits of cp.
unsigned wgml_unicode_props_of(uint32_t cp);
// Writes cp's full lowercase (1-3 code points) to out; returns the count.
size_t wgml_unicode_lower(uint32_t cp, uint32_t out[3]);
// WGML_UCAT_* class of cp (any uint32_t).
unsigned wgml_unicode_category(uint32_t cp);
// Canonical combining class (0 for starters).
uint8_t wgml_unicode_ccc(uint32_t cp);
// Full canonical decomposition of cp, at most WGML_UNICODE_MAX_DECOMP code
// points (cp itself when it has none); returns the count.
#define WGML_UNICODE_MAX_DECOMP 4
size_t wgml_unicode_decompose(uint32_t cp, uint32_t out[WGML_UNICODE_MAX_DECOMP]);

// ---------------------------------------------------------------- generated data

typedef struct wgml_unicode_range {
    uint32_t first, last;
    uint32_t value;
} wgml_unicode_range;

typedef struct wgml_unicode_case_range {
    uint32_t first, last;
    int32_t delta;     // lowercase = cp + delta
    uint32_t stride;   // 1: every code point; 2: every other one
} wgml_unicode_case_range;

typedef struct wgml_unicode_multi {
    uint32_t cp;
    uint32_t to[3];    // 0 ends the list
} wgml_unicode_multi;

typedef struct wgml_unicode_decomp {
    uint32_t cp;
    uint32_t a, b;     // one canonical decomposition step; b = 0 for a singleton
} wgml_unicode_decomp;

extern const char wgml_unicode_data_version[];
extern const wgml_unicode_range wgml_unicode_props[];
extern const size_t wgml_unicode_props_count;
extern const wgml_unicode_case_range wgml_unicode_lower_ranges[];
extern const size_t wgml_unicode_lower_ranges_count;
extern const wgml_unicode_multi wgml_unicode_lower_multi[];
extern const size_t wgml_unicode_lower_multi_count;
extern const wgml_unicode_decomp wgml_unicode_decomps[];
extern const size_t wgml_unicode_decomps_count;
extern const wgml_unicode_range wgml_unicode_ccc_ranges[];
extern const size_t wgml_unicode_ccc_ranges_count;
extern const char wgml_unicode_gc_version[];
extern const wgml_unicode_range wgml_unicode_gc_ranges[];
extern const size_t wgml_unicode_gc_ranges_count;

#endif

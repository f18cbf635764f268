// Chat templates recognised by their markers and rendered by hand (chat.h).
#include "models/chat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wgml_chat_format_name(wgml_chat_format f)
{
    switch (f) {
    case WGML_CHAT_CHATML: return "chatml";
    case WGML_CHAT_LLAMA3: return "llama3";
    case WGML_CHAT_LLAMA2: return "llama2";
    default: return "unknown";
    }
}

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || !err_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

// memmem over the template (which may hold NUL bytes).
static const char *find(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k <= n && i <= n - k; i++)
        if (s[i] == needle[0] && !memcmp(s + i, needle, k)) return s + i;
    return NULL;
}

// The value of a Jinja string literal starting at s (after its opening
// quote q), up to `stop` (exclusive) or the closing quote, with backslash
// escapes decoded (n, t, r; any other character stands for itself). NULL
// when `stop` does not come first.
static char *literal_until(const char *s, const char *end, char q, const char *stop)
{
    size_t cap = (size_t)(end - s) + 1, n = 0, k = strlen(stop);
    char *out = malloc(cap);
    if (!out) return NULL;
    while (s < end) {
        if ((size_t)(end - s) >= k && !memcmp(s, stop, k)) {
            out[n] = '\0';
            return out;
        }
        if (*s == q) break;
        if (*s == '\\' && s + 1 < end) {
            char e = s[1];
            out[n++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
            s += 2;
            continue;
        }
        out[n++] = *s++;
    }
    free(out);
    return NULL;
}

// The literal's text after `prefix` (a marker inside a quoted string: the
// quote is found by looking back), up to `stop`.
static char *literal_after(const char *tmpl, size_t len, const char *prefix, const char *stop)
{
    const char *end = tmpl + len;
    for (const char *p = find(tmpl, len, prefix); p; p = find(p + 1, (size_t)(end - p - 1), prefix)) {
        const char *q = p;
        while (q > tmpl && q[-1] != '\'' && q[-1] != '"') q--;
        if (q == tmpl) continue;
        char *v = literal_until(p + strlen(prefix), end, q[-1], stop);
        if (v) return v;
    }
    return NULL;
}

void wgml_chat_template_free(wgml_chat_template *t)
{
    if (!t) return;
    free(t->default_system);
    free(t->knowledge_date);
    free(t->today_date);
    memset(t, 0, sizeof *t);
}

wgml_status wgml_chat_template_parse(const char *tmpl, size_t len, wgml_chat_template *out,
                                     char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (!tmpl || !len) {
        out->format = WGML_CHAT_CHATML;
        return WGML_OK;
    }
    if (find(tmpl, len, "<|im_start|>")) {
        out->format = WGML_CHAT_CHATML;
        // A system message the template writes itself: the literal text
        // "<|im_start|>system\n...<|im_end|>\n" (real or escaped newline).
        char *s = literal_after(tmpl, len, "<|im_start|>system\\n", "<|im_end|>");
        if (!s) s = literal_after(tmpl, len, "<|im_start|>system\n", "<|im_end|>");
        out->default_system = s;
        return WGML_OK;
    }
    if (find(tmpl, len, "<|start_header_id|>") && find(tmpl, len, "<|end_header_id|>")) {
        out->format = WGML_CHAT_LLAMA3;
        if (find(tmpl, len, "Cutting Knowledge Date: ")) {
            out->knowledge_date = literal_after(tmpl, len, "Cutting Knowledge Date: ", "\\n");
            if (!out->knowledge_date)
                out->knowledge_date = literal_after(tmpl, len, "Cutting Knowledge Date: ", "\n");
            out->today_date = literal_after(tmpl, len, "set date_string = \"", "\"");
            if (!out->today_date) out->today_date = literal_after(tmpl, len, "set date_string = '", "'");
            if (!out->knowledge_date || !out->today_date) {
                wgml_chat_template_free(out);
                set_err(err, err_size, "a Llama 3.1-style chat template without a readable "
                                       "knowledge date or default date");
                return WGML_ERR_UNSUPPORTED;
            }
        }
        return WGML_OK;
    }
    if (find(tmpl, len, "[INST]")) {
        out->format = WGML_CHAT_LLAMA2;
        out->l2_sys = find(tmpl, len, "<<SYS>>") != NULL;
        out->l2_strip = find(tmpl, len, "content.strip()") != NULL;
        out->l2_bos_each = find(tmpl, len, "bos_token + '[INST]") != NULL;
        // ' ' + the answer: a quoted single space followed by `+`.
        for (const char *p = find(tmpl, len, "' '"); p && !out->l2_answer_space;
             p = find(p + 1, (size_t)(tmpl + len - p - 1), "' '")) {
            const char *q = p + 3;
            while (q < tmpl + len && *q == ' ') q++;
            out->l2_answer_space = q < tmpl + len && *q == '+';
        }
        return WGML_OK;
    }
    set_err(err, err_size, "the chat template is not one wgml renders (ChatML, Llama 3, "
                           "Llama 2 [INST])");
    return WGML_ERR_UNSUPPORTED;
}

// ---------------------------------------------------------------- rendering

typedef struct buf {
    char *s;
    size_t n, cap;
    bool failed;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

// Bytes of the Unicode whitespace code point at s (Python's str.isspace), or 0.
static size_t space_at(const unsigned char *s, size_t n)
{
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))) return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;   // U+1680
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
        ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3;   // U+2000..U+200A, U+2028, U+2029, U+202F
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3;   // U+205F
    if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3;   // U+3000
    return 0;
}

// Whether s[0..n) ends with a whitespace code point; its bytes.
static size_t space_before(const unsigned char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (space_at(s + n - k, k) == k) return k;
    return 0;
}

// content with Unicode whitespace removed from both ends when `strip`.
static void put_stripped(buf *b, const char *content, bool strip)
{
    const unsigned char *s = (const unsigned char *)content;
    size_t n = strlen(content), k;
    if (strip) {
        while ((k = space_at(s, n))) {
            s += k;
            n -= k;
        }
        while ((k = space_before(s, n))) n -= k;
    }
    put(b, (const char *)s, n);
}

static bool role_is(const wgml_chat_message *m, const char *role)
{
    return m->role && !strcmp(m->role, role);
}

static wgml_status render_llama2(const wgml_chat_template *t, const wgml_chat_message *msgs,
                                 size_t n, const char *bos, const char *eos, buf *b, char *err,
                                 size_t err_size)
{
    const char *system = NULL;
    if (n && role_is(&msgs[0], "system")) {
        system = msgs[0].content;
        msgs++;
        n--;
    }
    if (!t->l2_bos_each) puts_(b, bos);
    for (size_t i = 0; i < n; i++) {
        const wgml_chat_message *m = &msgs[i];
        bool user = role_is(m, "user");
        if (user != (i % 2 == 0) || (!user && !role_is(m, "assistant"))) {
            set_err(err, err_size, "chat: Llama 2 turns alternate user and assistant after an "
                                   "optional system message (message %zu is '%s')",
                    i + (system != NULL), m->role ? m->role : "(null)");
            return WGML_ERR_INVALID_ARGUMENT;
        }
        // The first user turn carries the system text.
        buf c = {0};
        if (i == 0 && system) {
            if (t->l2_sys) {
                puts_(&c, "<<SYS>>\n");
                puts_(&c, system);
                puts_(&c, "\n<</SYS>>\n\n");
            } else {
                puts_(&c, system);
                puts_(&c, "\n\n");
            }
        }
        puts_(&c, m->content);
        if (c.failed) {
            free(c.s);
            return WGML_ERR_OUT_OF_MEMORY;
        }
        if (user) {
            if (t->l2_bos_each) puts_(b, bos);
            puts_(b, "[INST] ");
            put_stripped(b, c.s, t->l2_strip);
            puts_(b, " [/INST]");
        } else {
            if (t->l2_answer_space) puts_(b, " ");
            put_stripped(b, c.s, t->l2_strip);
            if (t->l2_answer_space) puts_(b, " ");
            puts_(b, eos);
        }
        free(c.s);
    }
    return WGML_OK;
}

wgml_status wgml_chat_render(const wgml_chat_template *t, const wgml_chat_message *msgs,
                             size_t n, bool add_generation_prompt, const char *bos,
                             const char *eos, char **text, size_t *len, char *err,
                             size_t err_size)
{
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!t || !text || (!msgs && n)) {
        set_err(err, err_size, "chat: NULL argument");
        return WGML_ERR_INVALID_ARGUMENT;
    }
    if (!bos) bos = "";
    if (!eos) eos = "";
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) {
            set_err(err, err_size, "chat: message %zu has no role or content", i);
            return WGML_ERR_INVALID_ARGUMENT;
        }
    buf b = {0};
    put(&b, "", 0);
    wgml_status st = WGML_OK;
    switch (t->format) {
    case WGML_CHAT_CHATML:
        for (size_t i = 0; i < n; i++) {
            if (i == 0 && t->default_system && !role_is(&msgs[0], "system")) {
                puts_(&b, "<|im_start|>system\n");
                puts_(&b, t->default_system);
                puts_(&b, "<|im_end|>\n");
            }
            puts_(&b, "<|im_start|>");
            puts_(&b, msgs[i].role);
            puts_(&b, "\n");
            puts_(&b, msgs[i].content);
            puts_(&b, "<|im_end|>\n");
        }
        if (add_generation_prompt) puts_(&b, "<|im_start|>assistant\n");
        break;
    case WGML_CHAT_LLAMA3: {
        puts_(&b, bos);
        size_t first = 0;
        if (t->knowledge_date) {
            puts_(&b, "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: ");
            puts_(&b, t->knowledge_date);
            puts_(&b, "\nToday Date: ");
            puts_(&b, t->today_date);
            puts_(&b, "\n\n");
            if (n && role_is(&msgs[0], "system")) {
                put_stripped(&b, msgs[0].content, true);
                first = 1;
            }
            puts_(&b, "<|eot_id|>");
        }
        for (size_t i = first; i < n; i++) {
            puts_(&b, "<|start_header_id|>");
            puts_(&b, msgs[i].role);
            puts_(&b, "<|end_header_id|>\n\n");
            put_stripped(&b, msgs[i].content, true);
            puts_(&b, "<|eot_id|>");
        }
        if (add_generation_prompt) puts_(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    }
    case WGML_CHAT_LLAMA2:
        st = render_llama2(t, msgs, n, bos, eos, &b, err, err_size);
        break;
    default:
        set_err(err, err_size, "chat: no template");
        st = WGML_ERR_INVALID_ARGUMENT;
    }
    if (!st && b.failed) {
        set_err(err, err_size, "chat: out of memory");
        st = WGML_ERR_OUT_OF_MEMORY;
    }
    if (st) {
        free(b.s);
        return st;
    }
    *text = b.s;
    if (len) *len = b.n;
    return WGML_OK;
}

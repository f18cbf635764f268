/*
 * Chat templates (src/models/chat.h): wgml's renderer against what the real
 * templates give under Jinja (tests/data/chat_templates.json, written by
 * scripts/gen_chat_testdata.py with the jinja2 package in Hugging Face
 * transformers' environment), byte for byte; conversations a template rejects
 * must be rejected; unknown templates are refused.
 *
 *   test_chat jinja FILE     every case of the test data
 *   test_chat unit           detection and errors
 */
#include "formats/json.h"
#include "models/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            return 1;                                                     \
        }                                                                 \
    } while (0)

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) {
        s[n] = '\0';
        *len = (size_t)n;
    }
    return s;
}

// Prints where two renderings first differ.
static void show_diff(const char *got, size_t ng, const char *want, size_t nw)
{
    size_t i = 0;
    while (i < ng && i < nw && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  first difference at byte %zu\n  got:  \"%.*s\"\n  want: \"%.*s\"\n", i,
            (int)((ng > from + 120 ? from + 120 : ng) - from), got + from,
            (int)((nw > from + 120 ? from + 120 : nw) - from), want + from);
}

static int test_jinja(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text, "cannot read %s", path);
    char err[256];
    wgml_json_doc *doc;
    CHECK(wgml_json_parse(text, len, NULL, &doc, err, sizeof err) == WGML_OK, "%s: %s", path, err);
    const wgml_json *root = wgml_json_root(doc);
    const wgml_json *templates = wgml_json_get(root, "templates");
    const wgml_json *cases = wgml_json_get(root, "cases");
    CHECK(templates && cases && wgml_json_count(cases) > 0, "no cases in %s", path);
    int passed = 0, errors = 0;
    for (size_t i = 0; i < wgml_json_count(cases); i++) {
        const wgml_json *c = wgml_json_at(cases, i);
        size_t n;
        const char *name = wgml_json_string(wgml_json_get(c, "template_name"), &n);
        const char *conv = wgml_json_string(wgml_json_get(c, "conversation"), &n);
        size_t tlen, want_len;
        const char *tmpl = wgml_json_string(wgml_json_get(templates, name), &tlen);
        const char *fmt = wgml_json_string(wgml_json_get(c, "format"), &n);
        const char *bos = wgml_json_string(wgml_json_get(c, "bos"), &n);
        const char *eos = wgml_json_string(wgml_json_get(c, "eos"), &n);
        const char *want = wgml_json_string(wgml_json_get(c, "expected"), &want_len);
        bool gen = false, error = false;
        wgml_json_bool(wgml_json_get(c, "add_generation_prompt"), &gen);
        wgml_json_bool(wgml_json_get(c, "error"), &error);
        CHECK(name && conv && tmpl && fmt && bos && eos && want, "case %zu is incomplete", i);

        wgml_chat_template t;
        CHECK(wgml_chat_template_parse(tmpl, tlen, &t, err, sizeof err) == WGML_OK, "%s: %s",
              name, err);
        CHECK(!strcmp(wgml_chat_format_name(t.format), fmt), "%s detected as %s, not %s", name,
              wgml_chat_format_name(t.format), fmt);
        const wgml_json *jm = wgml_json_get(c, "messages");
        size_t nm = wgml_json_count(jm);
        wgml_chat_message *msgs = calloc(nm ? nm : 1, sizeof *msgs);
        CHECK(msgs, "out of memory");
        for (size_t k = 0; k < nm; k++) {
            msgs[k].role = wgml_json_string(wgml_json_get(wgml_json_at(jm, k), "role"), &n);
            msgs[k].content = wgml_json_string(wgml_json_get(wgml_json_at(jm, k), "content"), &n);
        }
        char *got = NULL;
        size_t got_len = 0;
        wgml_status st = wgml_chat_render(&t, msgs, nm, gen, bos, eos, &got, &got_len, err,
                                          sizeof err);
        free(msgs);
        wgml_chat_template_free(&t);
        if (error) {
            CHECK(st == WGML_ERR_INVALID_ARGUMENT, "%s/%s: Jinja raises, wgml rendered \"%s\"",
                  name, conv, got ? got : "");
            errors++;
        } else {
            CHECK(st == WGML_OK, "%s/%s: %s", name, conv, err);
            if (got_len != want_len || memcmp(got, want, want_len)) {
                fprintf(stderr, "FAIL %s/%s (generation prompt %d) differs from Jinja\n", name,
                        conv, gen);
                show_diff(got, got_len, want, want_len);
                free(got);
                return 1;
            }
        }
        free(got);
        passed++;
    }
    wgml_json_free(doc);
    free(text);
    printf("ok   jinja: %d cases equal to the templates' Jinja output (%d rejected by both)\n",
           passed, errors);
    return 0;
}

static int test_unit(void)
{
    char err[256];
    wgml_chat_template t;
    CHECK(wgml_chat_template_parse(NULL, 0, &t, err, sizeof err) == WGML_OK &&
          t.format == WGML_CHAT_CHATML && !t.default_system, "no template: plain ChatML");
    wgml_chat_message m[2] = {{"user", "hi"}, {"assistant", "hello"}};
    char *out;
    size_t n;
    CHECK(wgml_chat_render(&t, m, 2, true, "", "", &out, &n, err, sizeof err) == WGML_OK, "%s", err);
    const char *want = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
                       "<|im_start|>assistant\n";
    CHECK(n == strlen(want) && !strcmp(out, want), "plain ChatML: \"%s\"", out);
    free(out);
    static const char gemma[] = "{{ bos_token }}{% for message in messages %}<start_of_turn>"
                                "{{ message['role'] }}\n{{ message['content'] }}<end_of_turn>\n"
                                "{% endfor %}";
    CHECK(wgml_chat_template_parse(gemma, sizeof gemma - 1, &t, err, sizeof err) ==
              WGML_ERR_UNSUPPORTED && strstr(err, "ChatML"), "an unknown template: %s", err);
    static const char l31[] = "{{- \"<|start_header_id|>\" }}{{- \"<|end_header_id|>\" }}"
                              "{{- \"Cutting Knowledge Date: \" + date }}";
    CHECK(wgml_chat_template_parse(l31, sizeof l31 - 1, &t, err, sizeof err) ==
              WGML_ERR_UNSUPPORTED, "a Llama 3.1 template without its dates");
    CHECK(wgml_chat_template_parse("[INST]", 6, &t, err, sizeof err) == WGML_OK, "%s", err);
    wgml_chat_message bad[1] = {{"assistant", "first"}};
    CHECK(wgml_chat_render(&t, bad, 1, true, "<s>", "</s>", &out, &n, err, sizeof err) ==
              WGML_ERR_INVALID_ARGUMENT && !out, "Llama 2 must start with the user");
    wgml_chat_message null_content[1] = {{"user", NULL}};
    CHECK(wgml_chat_render(&t, null_content, 1, true, "", "", &out, &n, err, sizeof err) ==
              WGML_ERR_INVALID_ARGUMENT, "a message without content");
    wgml_chat_template_free(&t);
    printf("ok   unit: plain ChatML, unknown and broken templates refused, bad conversations\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "jinja")) return test_jinja(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "unit")) return test_unit();
    fprintf(stderr, "usage: test_chat jinja FILE | unit\n");
    return 2;
}

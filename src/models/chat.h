/*
 * Chat templates without a Jinja engine: a GGUF file's tokenizer.chat_template
 * is recognised by markers in its text (as llama.cpp's llama-chat.cpp does)
 * and rendered by hand in one of the formats below, with the details that
 * differ between models read from the template text too. The test data
 * (tests/data/chat_templates.json, scripts/gen_chat_testdata.py) holds what
 * the real templates give under the jinja2 package; the renderer must
 * reproduce it byte for byte.
 *
 *   ChatML   "<|im_start|>" role "\n" content "<|im_end|>\n" per message, then
 *            "<|im_start|>assistant\n". A template that writes a literal
 *            "<|im_start|>system\n...<|im_end|>\n" (SmolLM2, Qwen2) puts that
 *            system message first when the conversation has none.
 *   Llama 3  bos, then "<|start_header_id|>" role "<|end_header_id|>\n\n"
 *            trim(content) "<|eot_id|>" per message, then the assistant's
 *            header. Llama 3.1+ templates ("Cutting Knowledge Date:") always
 *            open with a system message holding the knowledge and today's
 *            date lines (the template's default date) before the system text.
 *   Llama 2  "[INST] ... [/INST]" turns with the variations the template text
 *            shows: a "<<SYS>>\n...\n<</SYS>>\n\n" block in the first user
 *            turn, content.strip(), bos before every turn or once, a space
 *            around the assistant's answer. Roles must alternate user /
 *            assistant after an optional system message. A template without
 *            <<SYS>> gets the system text and a blank line before the first
 *            user message (where Jinja would raise an exception).
 * A missing template renders as plain ChatML (llama.cpp's default).
 *
 * trim and strip remove what Python's str.strip() removes (Unicode
 * whitespace), as Jinja's filters do.
 */
#ifndef WGML_CHAT_H
#define WGML_CHAT_H

#include "wgml.h"

typedef enum wgml_chat_format {
    WGML_CHAT_UNKNOWN = 0,
    WGML_CHAT_CHATML,
    WGML_CHAT_LLAMA3,
    WGML_CHAT_LLAMA2,
} wgml_chat_format;

typedef struct wgml_chat_template {
    wgml_chat_format format;
    char *default_system;      // ChatML: inserted when the conversation has no system message; or NULL
    char *knowledge_date;      // Llama 3.1+: "December 2023"; NULL for Llama 3.0
    char *today_date;          // Llama 3.1+: the template's default date_string
    bool l2_sys;               // Llama 2: <<SYS>> block
    bool l2_strip;             // content.strip()
    bool l2_bos_each;          // bos before every [INST]; else once, first
    bool l2_answer_space;      // " " answer " " eos; else answer eos
} wgml_chat_template;

const char *wgml_chat_format_name(wgml_chat_format f);

// Recognises a template (NULL or empty: plain ChatML). WGML_ERR_UNSUPPORTED
// with the reason in err for a template of another format.
wgml_status wgml_chat_template_parse(const char *tmpl, size_t len, wgml_chat_template *out,
                                     char *err, size_t err_size);
void wgml_chat_template_free(wgml_chat_template *t);

// Renders the conversation; bos and eos are the texts of those tokens (""
// when the vocabulary has none). *text (*len bytes plus a NUL) is freed with
// free(). WGML_ERR_INVALID_ARGUMENT for roles a format cannot place.
wgml_status wgml_chat_render(const wgml_chat_template *t, const wgml_chat_message *msgs,
                             size_t n, bool add_generation_prompt, const char *bos,
                             const char *eos, char **text, size_t *len, char *err,
                             size_t err_size);

#endif

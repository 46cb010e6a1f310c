/*
 * redact.c - vespene.examples.c_redact: the C twin of examples/redact.rs.
 *
 * An output filter that replaces every occurrence of a configured word
 * with a mask. Its parameters, in a settings file:
 *
 *     [plugins.output]
 *     redact = ["vespene.examples.c_redact", { word = "hunter2", mask = "****" }]
 *
 * `word` is required and must not be empty; `mask` defaults to eight
 * asterisks. It answers exactly as the Rust twin does, byte for byte: the
 * same results, the same error JSON.
 *
 * Build (C99, only the header and libc):
 *
 *     cc -std=c99 -O2 -shared -fPIC -I../../include -o libredact_c.so redact.c
 *
 * Everything the host passes in (vp_str) is borrowed for the call and is
 * not NUL-terminated. Everything handed out (vp_buf) is allocated with
 * malloc here and released by the host through free_buf below. An instance
 * is never written after create, so calls may come from several threads.
 */

#include "vespene_plugin.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MASK "********"

static const char MANIFEST[] =
    "{\"abi\":1,\"name\":\"vespene.examples.c_redact\",\"kind\":\"output\","
    "\"api\":\"1.0\",\"version\":\"1.0.0\","
    "\"description\":\"Replaces every occurrence of a configured word with a mask (C).\"}";

/* ------------------------------------------------------------------ */
/* A growable byte buffer; `failed` is set when an allocation fails.   */

typedef struct {
    uint8_t *ptr;
    size_t len;
    size_t cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const void *p, size_t n) {
    if (b->failed || n == 0) {
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) {
            cap *= 2;
        }
        uint8_t *grown = realloc(b->ptr, cap);
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        b->ptr = grown;
        b->cap = cap;
    }
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
}

static void sb_putc(sbuf *b, uint8_t c) { sb_put(b, &c, 1); }

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_free(sbuf *b) {
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

/* Hands the buffer over as a vp_buf; a zeroed one if an allocation failed. */
static vp_buf sb_finish(sbuf *b) {
    vp_buf out = {NULL, 0, 0};
    if (!b->failed && b->ptr == NULL) {
        /* Nothing was written: still hand out a real (empty) buffer. */
        b->ptr = malloc(1);
        b->cap = 1;
        b->failed = b->ptr == NULL;
    }
    if (b->failed) {
        sb_free(b);
        return out;
    }
    out.ptr = b->ptr;
    out.len = b->len;
    out.cap = b->cap;
    b->ptr = NULL;
    b->len = b->cap = 0;
    return out;
}

/*
 * Writes bytes as a JSON string, quotes included, escaping exactly as
 * serde_json does: \" \\ \b \f \n \r \t, other control characters as
 * \u00xx (lower-case hex); everything else, UTF-8 included, as is.
 */
static void sb_json_string(sbuf *b, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i;
    size_t run = 0; /* start of the bytes not yet written */
    sb_putc(b, '"');
    for (i = 0; i < n; i++) {
        uint8_t c = p[i];
        const char *esc = NULL;
        char uesc[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                uesc[0] = '\\';
                uesc[1] = 'u';
                uesc[2] = '0';
                uesc[3] = '0';
                uesc[4] = hex[c >> 4];
                uesc[5] = hex[c & 15];
                uesc[6] = '\0';
                esc = uesc;
            }
        }
        if (esc != NULL) {
            sb_put(b, p + run, i - run);
            sb_puts(b, esc);
            run = i + 1;
        }
    }
    sb_put(b, p + run, n - run);
    sb_putc(b, '"');
}

/* {"code":"CODE","message":"MESSAGE"}, as PluginError::to_json writes it. */
static vp_buf error_json(const char *code, const sbuf *message) {
    sbuf b = {0};
    sb_puts(&b, "{\"code\":\"");
    sb_puts(&b, code);
    sb_puts(&b, "\",\"message\":");
    sb_json_string(&b, message->ptr ? message->ptr : (const uint8_t *)"", message->len);
    sb_putc(&b, '}');
    return sb_finish(&b);
}

/* ------------------------------------------------------------------ */
/* A minimal JSON reader: enough to find string fields of an object.   */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} jcur;

static void j_ws(jcur *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
        j->p++;
    }
}

static void put_utf8(sbuf *out, unsigned long cp) {
    if (cp < 0x80) {
        sb_putc(out, (uint8_t)cp);
    } else if (cp < 0x800) {
        sb_putc(out, (uint8_t)(0xC0 | (cp >> 6)));
        sb_putc(out, (uint8_t)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sb_putc(out, (uint8_t)(0xE0 | (cp >> 12)));
        sb_putc(out, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        sb_putc(out, (uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        sb_putc(out, (uint8_t)(0xF0 | (cp >> 18)));
        sb_putc(out, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
        sb_putc(out, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        sb_putc(out, (uint8_t)(0x80 | (cp & 0x3F)));
    }
}

/* Four hex digits after \u; returns -1 if they are not there. */
static long j_hex4(jcur *j) {
    long v = 0;
    int i;
    if (j->end - j->p < 4) {
        return -1;
    }
    for (i = 0; i < 4; i++) {
        uint8_t c = *j->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            return -1;
        }
    }
    return v;
}

/*
 * Reads a JSON string at the cursor (which must be at its opening quote),
 * decoding escapes into `out` (NULL to skip it). Returns 1, or 0 on bad
 * JSON.
 */
static int j_string(jcur *j, sbuf *out) {
    sbuf scratch = {0};
    sbuf *dst = out ? out : &scratch;
    if (j->p >= j->end || *j->p != '"') {
        return 0;
    }
    j->p++;
    while (j->p < j->end) {
        uint8_t c = *j->p++;
        if (c == '"') {
            sb_free(&scratch);
            return 1;
        }
        if (c < 0x20) {
            break; /* raw control characters are not allowed in JSON strings */
        }
        if (c != '\\') {
            if (out) {
                sb_putc(dst, c);
            }
            continue;
        }
        if (j->p >= j->end) {
            break;
        }
        c = *j->p++;
        switch (c) {
        case '"': case '\\': case '/':
            if (out) sb_putc(dst, c);
            break;
        case 'b': if (out) sb_putc(dst, '\b'); break;
        case 'f': if (out) sb_putc(dst, '\f'); break;
        case 'n': if (out) sb_putc(dst, '\n'); break;
        case 'r': if (out) sb_putc(dst, '\r'); break;
        case 't': if (out) sb_putc(dst, '\t'); break;
        case 'u': {
            long cp = j_hex4(j);
            if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) {
                goto bad; /* bad digits or a lone trailing surrogate */
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long low;
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                    goto bad; /* a lone leading surrogate */
                }
                j->p += 2;
                low = j_hex4(j);
                if (low < 0xDC00 || low > 0xDFFF) {
                    goto bad;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            if (out) {
                put_utf8(dst, (unsigned long)cp);
            }
            break;
        }
        default:
            goto bad;
        }
    }
bad:
    sb_free(&scratch);
    return 0;
}

static int j_literal(jcur *j, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) {
        return 0;
    }
    j->p += n;
    return 1;
}

static int j_digits(jcur *j) {
    const uint8_t *start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        j->p++;
    }
    return j->p > start;
}

static int j_number(jcur *j) {
    if (j->p < j->end && *j->p == '-') {
        j->p++;
    }
    if (j->p < j->end && *j->p == '0') {
        j->p++;
    } else if (!j_digits(j)) {
        return 0;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!j_digits(j)) {
            return 0;
        }
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }
        if (!j_digits(j)) {
            return 0;
        }
    }
    return 1;
}

/* Skips any JSON value; returns 0 on bad JSON or nesting deeper than 128. */
static int j_skip(jcur *j, int depth) {
    j_ws(j);
    if (j->p >= j->end || depth > 128) {
        return 0;
    }
    switch (*j->p) {
    case '"':
        return j_string(j, NULL);
    case 't':
        return j_literal(j, "true");
    case 'f':
        return j_literal(j, "false");
    case 'n':
        return j_literal(j, "null");
    case '[':
    case '{': {
        uint8_t close = *j->p == '[' ? ']' : '}';
        int object = close == '}';
        j->p++;
        j_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 1;
        }
        for (;;) {
            if (object) {
                j_ws(j);
                if (!j_string(j, NULL)) {
                    return 0;
                }
                j_ws(j);
                if (j->p >= j->end || *j->p++ != ':') {
                    return 0;
                }
            }
            if (!j_skip(j, depth + 1)) {
                return 0;
            }
            j_ws(j);
            if (j->p >= j->end) {
                return 0;
            }
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p == close) {
                j->p++;
                return 1;
            }
            return 0;
        }
    }
    default:
        return j_number(j);
    }
}

/* What a top-level member was: absent, a string (decoded), or another value. */
enum { FIELD_ABSENT = 0, FIELD_STRING, FIELD_OTHER };

typedef struct {
    const char *key;
    int state;
    uint8_t first; /* FIELD_OTHER: the value's first character ('{', '[', 'n' ...) */
    sbuf value;    /* FIELD_STRING: the decoded string */
} jfield;

/*
 * Reads `text` as a JSON object, filling the fields whose keys are listed
 * (a repeated key keeps its last value, as serde_json does). If `unknown`
 * is not NULL it receives the smallest key (in byte order) that is not
 * listed. Returns 1 for an object, 0 for anything else.
 */
static int read_object(vp_str text, jfield *fields, size_t nfields, sbuf *unknown, int *has_unknown) {
    jcur j;
    sbuf key = {0};
    j.p = text.ptr;
    j.end = text.ptr + text.len;
    if (has_unknown) {
        *has_unknown = 0;
    }
    j_ws(&j);
    if (j.p >= j.end || *j.p != '{') {
        return 0;
    }
    j.p++;
    j_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            size_t i;
            jfield *field = NULL;
            j_ws(&j);
            key.len = 0;
            if (!j_string(&j, &key) || key.failed) {
                goto bad;
            }
            j_ws(&j);
            if (j.p >= j.end || *j.p++ != ':') {
                goto bad;
            }
            for (i = 0; i < nfields; i++) {
                if (strlen(fields[i].key) == key.len && memcmp(fields[i].key, key.ptr, key.len) == 0) {
                    field = &fields[i];
                }
            }
            if (field == NULL && has_unknown) {
                size_t n = key.len < unknown->len ? key.len : unknown->len;
                int cmp = n ? memcmp(key.ptr, unknown->ptr, n) : 0;
                if (!*has_unknown || cmp < 0 || (cmp == 0 && key.len < unknown->len)) {
                    unknown->len = 0;
                    sb_put(unknown, key.ptr, key.len);
                    *has_unknown = 1;
                }
            }
            j_ws(&j);
            if (field != NULL && j.p < j.end && *j.p == '"') {
                field->value.len = 0;
                if (!j_string(&j, &field->value)) {
                    goto bad;
                }
                field->state = FIELD_STRING;
            } else {
                uint8_t first = j.p < j.end ? *j.p : 0;
                if (!j_skip(&j, 1)) {
                    goto bad;
                }
                if (field != NULL) {
                    field->state = FIELD_OTHER;
                    field->first = first;
                }
            }
            j_ws(&j);
            if (j.p < j.end && *j.p == ',') {
                j.p++;
                continue;
            }
            if (j.p < j.end && *j.p == '}') {
                j.p++;
                break;
            }
            goto bad;
        }
    }
    j_ws(&j);
    sb_free(&key);
    return j.p == j.end;
bad:
    sb_free(&key);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The plugin.                                                         */

typedef struct {
    uint8_t *word;
    size_t word_len;
    uint8_t *mask;
    size_t mask_len;
} redact;

/* Where `needle` first occurs in `hay`, or NULL. */
static const uint8_t *find(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t needle_len) {
    size_t i;
    if (needle_len == 0 || hay_len < needle_len) {
        return NULL;
    }
    for (i = 0; i + needle_len <= hay_len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, needle_len) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

/* Writes `line` with every occurrence of the word masked into `out`;
 * returns 0 when the word does not occur (nothing written). */
static int redact_into(const redact *r, const uint8_t *line, size_t len, sbuf *out) {
    const uint8_t *rest = line;
    const uint8_t *end = line + len;
    const uint8_t *at = find(rest, len, r->word, r->word_len);
    if (at == NULL) {
        return 0;
    }
    while (at != NULL) {
        sb_put(out, rest, (size_t)(at - rest));
        sb_put(out, r->mask, r->mask_len);
        rest = at + r->word_len;
        at = find(rest, (size_t)(end - rest), r->word, r->word_len);
    }
    sb_put(out, rest, (size_t)(end - rest));
    return 1;
}

/* "parameters of 'NAME': " */
static void params_prefix(sbuf *msg, vp_str name) {
    sb_puts(msg, "parameters of '");
    sb_put(msg, name.ptr, name.len);
    sb_puts(msg, "': ");
}

static int32_t redact_create(vp_str name, vp_str config_json, const vp_host *host, void **instance,
                             vp_buf *error) {
    jfield fields[2] = {{"word", FIELD_ABSENT, 0, {0}}, {"mask", FIELD_ABSENT, 0, {0}}};
    const jfield *word = &fields[0];
    const jfield *mask = &fields[1];
    sbuf unknown = {0};
    sbuf msg = {0};
    int has_unknown = 0;
    int oom = 0;
    redact *r = NULL;
    (void)host; /* this plugin needs no host services */

    /* The same checks, in the same order, with the same words as the Rust twin. */
    params_prefix(&msg, name);
    if (!read_object(config_json, fields, 2, &unknown, &has_unknown)) {
        sb_puts(&msg, "expected an object such as {\"word\": \"hunter2\", \"mask\": \"****\"}");
    } else if (has_unknown) {
        sb_puts(&msg, "unknown parameter '");
        sb_put(&msg, unknown.ptr, unknown.len);
        sb_puts(&msg, "' (expected word, mask)");
    } else if (word->state != FIELD_STRING || word->value.len == 0) {
        sb_puts(&msg, "'word' is required and must be a non-empty string");
    } else if (mask->state == FIELD_OTHER) {
        sb_puts(&msg, "'mask' must be a string");
    } else {
        r = calloc(1, sizeof *r);
        if (r != NULL) {
            r->word = malloc(word->value.len);
            r->word_len = word->value.len;
            if (mask->state == FIELD_STRING) {
                r->mask_len = mask->value.len;
                r->mask = malloc(r->mask_len ? r->mask_len : 1);
                if (r->mask != NULL && r->mask_len) {
                    memcpy(r->mask, mask->value.ptr, r->mask_len);
                }
            } else {
                r->mask_len = strlen(DEFAULT_MASK);
                r->mask = malloc(r->mask_len);
                if (r->mask != NULL) {
                    memcpy(r->mask, DEFAULT_MASK, r->mask_len);
                }
            }
            if (r->word != NULL) {
                memcpy(r->word, word->value.ptr, r->word_len);
            }
        }
        oom = r == NULL || r->word == NULL || r->mask == NULL;
    }
    oom = oom || msg.failed || unknown.failed || word->value.failed || mask->value.failed;
    sb_free(&fields[0].value);
    sb_free(&fields[1].value);
    sb_free(&unknown);

    if (r != NULL && !oom) {
        sb_free(&msg);
        *instance = r;
        return VP_OK;
    }
    if (oom) {
        /* An allocation failed: not the user's fault. */
        if (r != NULL) {
            free(r->word);
            free(r->mask);
            free(r);
        }
        msg.len = 0;
        msg.failed = 0;
        sb_puts(&msg, "out of memory");
        *error = error_json("failed", &msg);
    } else {
        *error = error_json("invalid_params", &msg);
    }
    sb_free(&msg);
    return VP_ERR;
}

static int op_is(vp_str op, const char *name) {
    return op.len == strlen(name) && memcmp(op.ptr, name, op.len) == 0;
}

static int32_t redact_call(void *instance, vp_str op, vp_str args_json, vp_buf *out) {
    const redact *r = instance;
    sbuf b = {0};
    sbuf msg = {0};
    int32_t status = VP_OK;

    if (op_is(op, "filter")) {
        /* {"line": "..."} -> {"line": "..."}, the line as filter_line leaves it. */
        jfield line = {"line", FIELD_ABSENT, 0, {0}};
        if (read_object(args_json, &line, 1, NULL, NULL) && line.state == FIELD_STRING) {
            sbuf replaced = {0};
            const sbuf *result = &line.value;
            if (redact_into(r, line.value.ptr, line.value.len, &replaced)) {
                result = &replaced;
            }
            b.failed = line.value.failed || replaced.failed;
            sb_puts(&b, "{\"line\":");
            sb_json_string(&b, result->ptr ? result->ptr : (const uint8_t *)"", result->len);
            sb_putc(&b, '}');
            sb_free(&replaced);
        } else {
            sb_puts(&msg, "arguments: expected {\"line\": \"...\"}");
            status = VP_ERR;
        }
        sb_free(&line.value);
    } else if (op_is(op, "begin")) {
        /* {"build": {...}} -> {}; this filter does not need the build. Every
         * field of a request is optional, so {} (or nothing) is fine too. */
        jfield build = {"build", FIELD_ABSENT, 0, {0}};
        static const uint8_t empty_object[] = "{}";
        vp_str args = args_json.len ? args_json : (vp_str){empty_object, 2};
        if (read_object(args, &build, 1, NULL, NULL) &&
            (build.state == FIELD_ABSENT || (build.state == FIELD_OTHER && build.first == '{'))) {
            sb_puts(&b, "{}");
        } else {
            sb_puts(&msg, "arguments: expected {\"build\": {...}}");
            status = VP_ERR;
        }
        sb_free(&build.value);
    } else {
        /* The rule for every plugin: an unknown op answers "unsupported". */
        sb_puts(&msg, "operation '");
        sb_put(&msg, op.ptr, op.len);
        sb_puts(&msg, "' is not supported");
        *out = error_json("unsupported", &msg);
        sb_free(&msg);
        return VP_ERR;
    }

    if (status == VP_ERR) {
        *out = error_json("invalid_request", &msg);
        sb_free(&b);
    } else {
        *out = sb_finish(&b);
        if (out->ptr == NULL) {
            status = VP_ERR;
        }
    }
    sb_free(&msg);
    return status;
}

static int32_t redact_filter_line(void *instance, vp_str line, vp_buf *out) {
    const redact *r = instance;
    sbuf b = {0};
    if (!redact_into(r, line.ptr, line.len, &b)) {
        return VP_UNCHANGED; /* the common case: nothing allocated */
    }
    *out = sb_finish(&b);
    /* Out of memory: an empty error buffer; the host reports the failure. */
    return out->ptr != NULL ? VP_OK : VP_ERR;
}

static void redact_destroy(void *instance) {
    redact *r = instance;
    if (r != NULL) {
        free(r->word);
        free(r->mask);
        free(r);
    }
}

static void redact_free_buf(vp_buf buf) { free(buf.ptr); }

static const vp_plugin_v1 TABLE = {
    VESPENE_PLUGIN_ABI_MAJOR,
    sizeof(vp_plugin_v1),
    {(const uint8_t *)MANIFEST, sizeof MANIFEST - 1},
    redact_create,
    redact_call,
    redact_filter_line,
    redact_destroy,
    redact_free_buf,
};

const vp_plugin_v1 *vespene_plugin_v1(void) { return &TABLE; }

#include "util/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/status.h"

typedef struct parser {
    const char *s, *end, *what;
    int depth;
} parser;

static spd_status perr(const parser *p, const char *at, const char *msg)
{
    int line = 1, col = 1;
    for (const char *c = p->s; c < at && c < p->end; c++) {
        if (*c == '\n') { line++; col = 1; }
        else col++;
    }
    return spd_errorf(SPD_ERR_INVALID, "%s: line %d, column %d: %s", p->what, line, col, msg);
}

static const char *skip_ws(const parser *p, const char *c)
{
    while (c < p->end && (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')) c++;
    return c;
}

static spd_status parse_value(parser *p, const char **cur, spd_json *out);

static spd_status parse_string(parser *p, const char **cur, char **out)
{
    const char *c = *cur + 1;
    size_t cap = 16, len = 0;
    char *buf = spd_malloc(cap);
    if (!buf) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    for (;;) {
        if (c >= p->end) { spd_free(buf); return perr(p, c, "unterminated string"); }
        unsigned char ch = (unsigned char)*c++;
        if (ch == '"') break;
        if (ch < 0x20) { spd_free(buf); return perr(p, c - 1, "control character in a string"); }
        char tmp[4];
        size_t tl = 1;
        tmp[0] = (char)ch;
        if (ch == '\\') {
            if (c >= p->end) { spd_free(buf); return perr(p, c, "unterminated string"); }
            char e = *c++;
            switch (e) {
            case '"': case '\\': case '/': tmp[0] = e; break;
            case 'b': tmp[0] = '\b'; break;
            case 'f': tmp[0] = '\f'; break;
            case 'n': tmp[0] = '\n'; break;
            case 'r': tmp[0] = '\r'; break;
            case 't': tmp[0] = '\t'; break;
            case 'u': {
                if (p->end - c < 4) { spd_free(buf); return perr(p, c, "short \\u escape"); }
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *c++;
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
                    else { spd_free(buf); return perr(p, c - 1, "bad \\u escape"); }
                }
                /* UTF-8 of the BMP code point; surrogate pairs are kept as two. */
                if (v < 0x80) tmp[0] = (char)v;
                else if (v < 0x800) { tmp[0] = (char)(0xc0 | (v >> 6)); tmp[1] = (char)(0x80 | (v & 0x3f)); tl = 2; }
                else { tmp[0] = (char)(0xe0 | (v >> 12)); tmp[1] = (char)(0x80 | ((v >> 6) & 0x3f)); tmp[2] = (char)(0x80 | (v & 0x3f)); tl = 3; }
                break;
            }
            default: spd_free(buf); return perr(p, c - 1, "unknown escape in a string");
            }
        }
        if (len + tl + 1 > cap) {
            cap = (cap + tl) * 2;
            char *nb = spd_realloc(buf, cap);
            if (!nb) { spd_free(buf); return spd_errorf(SPD_ERR_NOMEM, "out of memory"); }
            buf = nb;
        }
        memcpy(buf + len, tmp, tl);
        len += tl;
    }
    buf[len] = '\0';
    *out = buf;
    *cur = c;
    return SPD_OK;
}

static spd_status push(spd_json *arr, char *key, spd_json *v)
{
    spd_json *ni = spd_realloc(arr->items, (size_t)(arr->n + 1) * sizeof *ni);
    if (!ni) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    arr->items = ni;
    if (arr->type == SPD_JSON_OBJECT) {
        char **nk = spd_realloc(arr->keys, (size_t)(arr->n + 1) * sizeof *nk);
        if (!nk) return spd_errorf(SPD_ERR_NOMEM, "out of memory");
        arr->keys = nk;
        arr->keys[arr->n] = key;
    }
    arr->items[arr->n++] = *v;
    return SPD_OK;
}

static spd_status parse_container(parser *p, const char **cur, spd_json *out, int object)
{
    const char *c = *cur + 1;
    out->type = object ? SPD_JSON_OBJECT : SPD_JSON_ARRAY;
    if (++p->depth > 64) return perr(p, c, "nested too deeply");
    c = skip_ws(p, c);
    if (c < p->end && *c == (object ? '}' : ']')) {
        *cur = c + 1;
        p->depth--;
        return SPD_OK;
    }
    for (;;) {
        char *key = NULL;
        c = skip_ws(p, c);
        if (object) {
            if (c >= p->end || *c != '"') return perr(p, c, "expected a string key");
            SPD_TRY(parse_string(p, &c, &key));
            c = skip_ws(p, c);
            if (c >= p->end || *c != ':') { spd_free(key); return perr(p, c, "expected ':'"); }
            c++;
        }
        spd_json v;
        memset(&v, 0, sizeof v);
        spd_status st = parse_value(p, &c, &v);
        if (st == SPD_OK) st = push(out, key, &v);
        if (st != SPD_OK) { spd_free(key); spd_json_free(&v); return st; }
        c = skip_ws(p, c);
        if (c < p->end && *c == ',') { c++; continue; }
        if (c < p->end && *c == (object ? '}' : ']')) { c++; break; }
        return perr(p, c, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    p->depth--;
    *cur = c;
    return SPD_OK;
}

static spd_status parse_value(parser *p, const char **cur, spd_json *out)
{
    const char *c = skip_ws(p, *cur);
    memset(out, 0, sizeof *out);
    if (c >= p->end) return perr(p, c, "unexpected end of input");
    if (*c == '{' || *c == '[') {
        spd_status st = parse_container(p, &c, out, *c == '{');
        *cur = c;
        return st;
    }
    if (*c == '"') {
        out->type = SPD_JSON_STRING;
        SPD_TRY(parse_string(p, &c, &out->str));
        *cur = c;
        return SPD_OK;
    }
    static const struct { const char *word; spd_json_type t; bool b; } words[] = {
        {"true", SPD_JSON_BOOL, true}, {"false", SPD_JSON_BOOL, false}, {"null", SPD_JSON_NULL, false}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(p->end - c) >= n && !memcmp(c, words[i].word, n)) {
            out->type = words[i].t;
            out->b = words[i].b;
            *cur = c + n;
            return SPD_OK;
        }
    }
    if (*c == '-' || (*c >= '0' && *c <= '9')) {
        char num[64];
        size_t n = 0;
        while (c + n < p->end && n < sizeof num - 1 && strchr("+-0123456789.eE", c[n])) n++;
        memcpy(num, c, n);
        num[n] = '\0';
        char *endp;
        errno = 0;
        double v = strtod(num, &endp);
        if (endp != num + n || errno) return perr(p, c, "malformed number");
        out->type = SPD_JSON_NUMBER;
        out->num = v;
        *cur = c + n;
        return SPD_OK;
    }
    return perr(p, c, "unexpected character");
}

spd_status spd_json_parse(const char *text, size_t len, const char *what, spd_json *out)
{
    parser p = {text, text + len, what, 0};
    const char *c = text;
    spd_status st = parse_value(&p, &c, out);
    if (st != SPD_OK) { spd_json_free(out); return st; }
    c = skip_ws(&p, c);
    if (c != p.end) {
        spd_json_free(out);
        return perr(&p, c, "unexpected text after the value");
    }
    return SPD_OK;
}

spd_status spd_json_parse_file(const char *path, spd_json *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return spd_errorf(SPD_ERR_INVALID, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = (cap + 4096) * 2;
            if (cap > ((size_t)64 << 20)) { fclose(f); spd_free(buf); return spd_errorf(SPD_ERR_INVALID, "%s: larger than 64 MB", path); }
            char *nb = spd_realloc(buf, cap);
            if (!nb) { fclose(f); spd_free(buf); return spd_errorf(SPD_ERR_NOMEM, "out of memory"); }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    fclose(f);
    spd_status st = spd_json_parse(buf ? buf : "", len, path, out);
    spd_free(buf);
    return st;
}

void spd_json_free(spd_json *j)
{
    if (!j) return;
    spd_free(j->str);
    for (int i = 0; i < j->n; i++) {
        if (j->keys) spd_free(j->keys[i]);
        spd_json_free(&j->items[i]);
    }
    spd_free(j->keys);
    spd_free(j->items);
    memset(j, 0, sizeof *j);
}

const spd_json *spd_json_get(const spd_json *obj, const char *key)
{
    if (!obj || obj->type != SPD_JSON_OBJECT) return NULL;
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return &obj->items[i];
    return NULL;
}

void spd_json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c == '\n') fputs("\\n", f);
        else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
    fputc('"', f);
}

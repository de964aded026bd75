/* Text featurization: TfIdfVectorizer over integer token ids.
 *
 * The pool holds the known n-grams level by level (1-grams from
 * ngram_counts[0], 2-grams from ngram_counts[1], ...); n-gram number i over
 * all levels is counted into output column ngram_indexes[i]. Each row of the
 * input is scanned for every start position, n-gram length and skip (the
 * gap between consecutive tokens, 0..max_skip_count; 1-grams only once), and
 * every occurrence that is in the pool adds one. String pools need string
 * tensors, which speedster does not have. */
#include <stdbool.h>
#include <string.h>

#include "ir/op.h"
#include "util/alloc.h"
#include "util/status.h"

typedef enum tf_mode { MODE_TF, MODE_IDF, MODE_TFIDF } tf_mode;

/* One level of the pool: the n-grams of length n. */
typedef struct level {
    const int64_t *grams; /* count * n token ids */
    int64_t count;
    int64_t first;        /* global n-gram number of the first one */
} level;

/* The global number of the n-gram tokens[0], tokens[step], ... in level lv,
 * or -1. */
static int64_t find_gram(const level *lv, int n, const int64_t *row, int64_t start, int64_t step)
{
    for (int64_t g = 0; g < lv->count; g++) {
        const int64_t *gram = lv->grams + g * n;
        int k = 0;
        while (k < n && gram[k] == row[start + k * step]) k++;
        if (k == n) return lv->first + g;
    }
    return -1;
}

static spd_status op_tfidf(spd_op_ctx *ctx)
{
    const spd_node *nd = ctx->node;
    const spd_tensor *x = ctx->in[0];
    if (x->dtype == SPD_STRING || spd_node_attr(nd, "pool_strings"))
        return spd_errorf(SPD_ERR_UNSUPPORTED, "string tensors are not supported");
    if (x->dtype != SPD_INT32 && x->dtype != SPD_INT64)
        return spd_errorf(SPD_ERR_INVALID, "input dtype %s is not int32 or int64", spd_dtype_name(x->dtype));
    if (x->ndim < 1 || x->ndim > 2)
        return spd_errorf(SPD_ERR_INVALID, "input must be 1-D or 2-D, got rank %d", x->ndim);

    const char *ms = spd_attr_string(nd, "mode", NULL);
    tf_mode mode;
    if (!ms) return spd_errorf(SPD_ERR_INVALID, "attribute mode is required");
    if (!strcmp(ms, "TF")) mode = MODE_TF;
    else if (!strcmp(ms, "IDF")) mode = MODE_IDF;
    else if (!strcmp(ms, "TFIDF")) mode = MODE_TFIDF;
    else return spd_errorf(SPD_ERR_INVALID, "mode '%s' is not TF, IDF or TFIDF", ms);

    int64_t min_n = spd_attr_int(nd, "min_gram_length", -1);
    int64_t max_n = spd_attr_int(nd, "max_gram_length", -1);
    int64_t max_skip = spd_attr_int(nd, "max_skip_count", -1);
    if (min_n < 1 || max_n < min_n || max_skip < 0)
        return spd_errorf(SPD_ERR_INVALID,
                          "need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0");
    size_t n_counts = 0, n_idx = 0, n_pool = 0, n_w = 0;
    const int64_t *counts = spd_attr_ints(nd, "ngram_counts", &n_counts);
    const int64_t *idx = spd_attr_ints(nd, "ngram_indexes", &n_idx);
    const int64_t *pool = spd_attr_ints(nd, "pool_int64s", &n_pool);
    const float *weights = spd_attr_floats(nd, "weights", &n_w);
    if (!counts || n_counts == 0) return spd_errorf(SPD_ERR_INVALID, "ngram_counts is required");
    if (n_counts > 64) return spd_errorf(SPD_ERR_UNSUPPORTED, "n-grams longer than 64 are not supported");

    /* Split the pool into levels. Levels past max_gram_length are kept for
     * numbering but never matched. */
    level lv[64];
    int64_t total = 0;
    for (size_t k = 0; k < n_counts; k++) {
        int64_t begin = counts[k], end = k + 1 < n_counts ? counts[k + 1] : (int64_t)n_pool;
        int64_t n = (int64_t)k + 1;
        if (begin < 0 || end < begin || end > (int64_t)n_pool)
            return spd_errorf(SPD_ERR_INVALID, "ngram_counts does not split pool_int64s (%zu values)", n_pool);
        if ((end - begin) % n)
            return spd_errorf(SPD_ERR_INVALID, "the %lld-grams of the pool hold %lld values, not a multiple of %lld",
                              (long long)n, (long long)(end - begin), (long long)n);
        lv[k].grams = pool ? pool + begin : NULL;
        lv[k].count = (end - begin) / n;
        lv[k].first = total;
        total += lv[k].count;
    }
    if ((int64_t)n_idx != total)
        return spd_errorf(SPD_ERR_INVALID, "ngram_indexes has %zu values for %lld pool n-grams", n_idx,
                          (long long)total);
    if (weights && (int64_t)n_w != total)
        return spd_errorf(SPD_ERR_INVALID, "weights has %zu values for %lld pool n-grams", n_w, (long long)total);
    int64_t width = 0;
    for (size_t i = 0; i < n_idx; i++) {
        if (idx[i] < 0) return spd_errorf(SPD_ERR_INVALID, "ngram_indexes[%zu] = %lld is negative", i, (long long)idx[i]);
        if (idx[i] + 1 > width) width = idx[i] + 1;
    }

    int64_t rows = x->ndim == 2 ? x->dims[0] : 1;
    int64_t cols = x->dims[x->ndim - 1];
    int64_t odims[2] = {rows, width};
    if (x->ndim == 2) SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, 2, odims));
    else SPD_TRY(spd_tensor_alloc(&ctx->out[0], SPD_FLOAT, 1, &odims[1]));
    float *y = ctx->out[0].data;
    if (total == 0 || rows == 0 || cols == 0) return SPD_OK;

    int64_t *row = spd_malloc((size_t)cols * sizeof(int64_t));
    int64_t *hits = spd_malloc((size_t)total * sizeof(int64_t));
    if (!row || !hits) {
        spd_free(row);
        spd_free(hits);
        return spd_errorf(SPD_ERR_NOMEM, "out of memory");
    }
    int64_t top = max_n < (int64_t)n_counts ? max_n : (int64_t)n_counts;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) row[c] = spd_tensor_get_i64(x, r * cols + c);
        memset(hits, 0, (size_t)total * sizeof(int64_t));
        for (int64_t start = 0; start < cols; start++) {
            for (int64_t n = min_n; n <= top; n++) {
                int64_t skips = n == 1 ? 0 : max_skip;
                for (int64_t s = 0; s <= skips; s++) {
                    /* the last token sits at start + (n-1)*(s+1) */
                    if ((n - 1) * (s + 1) >= cols - start) break;
                    int64_t g = find_gram(&lv[n - 1], (int)n, row, start, s + 1);
                    if (g >= 0) hits[g]++;
                }
            }
        }
        float *yr = y + r * width;
        for (int64_t g = 0; g < total; g++) {
            if (!hits[g]) continue;
            double w = weights ? weights[g] : 1.0;
            double v = mode == MODE_TF ? (double)hits[g] : mode == MODE_IDF ? w : (double)hits[g] * w;
            /* several pool n-grams may share one column */
            yr[idx[g]] += (float)v;
        }
    }
    spd_free(row);
    spd_free(hits);
    return SPD_OK;
}

const spd_op_def spd_ops_text[] = {
    {"TfIdfVectorizer", "", 9, 21, op_tfidf},
};
const int spd_ops_text_count = (int)(sizeof spd_ops_text / sizeof spd_ops_text[0]);

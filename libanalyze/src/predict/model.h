/* The models' working state, shared by predict.c (the models) and
 * run.c (the request, warnings and suggestions). */
#ifndef MT_PREDICT_MODEL_H
#define MT_PREDICT_MODEL_H

#include "predict/predict_impl.h"

typedef struct mt_list {
    char **v;
    size_t n, cap;
    int fail;
} mt_list;

/* Adds a formatted line once (a repeat is dropped); running out of
 * memory sets fail. */
void mt__list_add(mt_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mt__list_free(mt_list *l);

typedef struct mt_ctx {
    const mt_shapes *s;
    const mt_predict_request *q;
    mt_diag *diag;
    mt_list warn, assume;
    const char *model;       /* the last model group evaluated */
    int cat_unobserved;      /* groupby: a categorical key with observed=False */
    double cells, observed_cells; /* pivot_table */
    int oom;                 /* advice ran out of memory */
} mt_ctx;

/* What a result is estimated to hold. */
typedef struct mt_result {
    double shallow, deep, object;
    double real, shared;     /* buffers and distinct objects once; of those, objects of the inputs */
} mt_result;

typedef struct mt_est {
    double peak, rows, bytes;
    double real, shared;     /* mt_prediction's result_real_bytes, result_shared_bytes */
    char group[48];
} mt_est;

/* The frame or column a request names; NULL with c->diag saying what
 * there is instead. */
const mt_pframe *mt__find_frame(mt_ctx *c, const char *name, const char *role);
const mt_pcol *mt__find_col(mt_ctx *c, const mt_pframe *f, const char *name);
/* f's column named name, or NULL; no message. */
const mt_pcol *mt__pframe_col(const mt_pframe *f, const char *name);
/* Whether n holds name. */
int mt__names_has(const mt_names *n, const char *name);

/* The model of c->q's operation on fs (nf frames; smp for read_csv), scale
 * as below. The one dispatch of the run and of the advice's reruns. */
int mt__model_run(mt_ctx *c, const mt_pframe *const *fs, size_t nf, const mt_csv_sample *smp, double scale,
                 int observed, mt_est *e);

/* Each model fills *e; scale < 1 models a chunk of the first frame's
 * rows. @return 0 or an MT_E_* code with c->diag set. */
int mt__model_merge(mt_ctx *c, const mt_pframe *L, const mt_pframe *R, double scale, mt_est *e);
int mt__model_groupby(mt_ctx *c, const mt_pframe *F, double scale, int observed, mt_est *e);
int mt__model_pivot(mt_ctx *c, const mt_pframe *F, double scale, mt_est *e);
int mt__model_concat(mt_ctx *c, const mt_pframe *const *fs, size_t nf, mt_est *e);
int mt__model_sort(mt_ctx *c, const mt_pframe *F, mt_est *e);
int mt__model_read_csv(mt_ctx *c, const mt_csv_sample *smp, double scale, mt_est *e);

#endif

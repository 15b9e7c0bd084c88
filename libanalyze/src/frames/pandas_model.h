/* What memtrace knows of how pandas (1.5, on NumPy 1.24: Debian's, which
 * the calibration measured) lays data out in memory: dtype families and
 * widths, the codes of a categorical, the objects of a string column, and
 * the khash tables behind factorize, merge, groupby and a categorical's
 * categories. The advice (advise/) and the predictions (predict/) both
 * read pandas through this one model, so they cannot disagree. Internal;
 * frames.h's mt_df_itemsize and mt_df_int_fit are its public face. */
#ifndef MT_FRAMES_PANDAS_MODEL_H
#define MT_FRAMES_PANDAS_MODEL_H

#include <stddef.h>

/* ---- dtypes ---- */

/* The family of a pandas dtype name: "int", "uint", "float", "complex",
 * "bool", "object", "string", "category", "datetime", "timedelta",
 * "period", "sparse", "nullable_int" (Int8 ... UInt64), "nullable_float"
 * (Float32, Float64), "boolean", or "other" for any other name. A static
 * string; never NULL. */
const char *mt__pandas_dtype_kind(const char *dtype);

/* Bytes one value of dtype (len bytes, not NUL-terminated) takes in its
 * values array: 8 for "int64" and "Int64", 1 for "bool", 8 for "object"
 * (the pointer), 8 for any datetime64/timedelta64; 0 when the name is not
 * a fixed-width dtype ("category", "string", "boolean", unknown). The
 * mask of a nullable dtype is not counted: see mt__pandas_dtype_row_bytes. */
unsigned mt__pandas_dtype_itemsize(const char *dtype, size_t len);

/* Bytes a row of a column of dtype (NUL-terminated) holds in its arrays:
 * the value, and the mask byte of a nullable Int / UInt / Float; 2 for
 * "boolean" (a value and a mask byte). 0 when the name is not a
 * fixed-width dtype. The objects of an object column are not counted. */
unsigned mt__pandas_dtype_row_bytes(const char *dtype);

/* Whether a column of dtype holds text or other Python objects, a
 * pointer a row: "object", and pandas' string dtypes ("string", which
 * pandas 1.5 writes for both storages, "string[python]",
 * "string[pyarrow]"). */
int mt__pandas_dtype_is_object(const char *dtype);

/* Whether a column of dtype could hold its values as an integer dtype
 * (integers, floats, objects, their nullable and sparse forms): 0 for
 * dates, times, periods, booleans, categoricals and intervals, which keep
 * their own width whatever their values. */
int mt__pandas_dtype_may_fit_int(const char *dtype);

/* Whether dtype is NumPy's or pandas' name for a categorical. */
int mt__pandas_dtype_is_category(const char *dtype);

/* The nullable twin of a NumPy integer dtype name: "int8" -> "Int8",
 * "uint16" -> "UInt16", written into buf (n bytes, truncated). buf gets
 * "" when numpy_int is not an int or uint name. */
void mt__pandas_nullable_int_name(const char *numpy_int, char *buf, size_t n);

/* Bytes of the codes pandas gives each row of a categorical of k
 * categories: int8 below 127 categories, int16 below 32767, int32 below
 * 2^31 - 1, else int64 (pandas' coerce_indexer_dtype compares with the
 * type's maximum: 127 categories already take int16; measured). */
unsigned mt__pandas_code_bytes(double k);

/* ---- objects ---- */

/* Bytes of a Python str of len ASCII code points (sys.getsizeof, which
 * is what CPython allocates: a compact ASCII object). */
double mt__pandas_ascii_str_bytes(double len);

/* Bytes of the float NaN object an object column gets for a missing
 * value (a row a join leaves without a match). */
#define MT__PANDAS_NAN_OBJECT_BYTES 24.0

/* ---- hash tables ---- */

/* Buckets of a pandas khash table made for size_hint that then holds
 * n_keys distinct keys. pandas (khash_python.h) makes a table for a hint
 * with the smallest power of two (at least 4) whose upper bound,
 * (unsigned)(buckets * 0.77 + 0.5), is at least the hint, the hint capped
 * at 2^20 + 7 (SIZE_HINT_LIMIT, so at most 2^21 buckets); inserting past
 * the upper bound doubles the table. Measured with tracemalloc (khash
 * allocates in its own traced domain) on pandas 1.5.3 for 10^3 to 10^7
 * int64 and object keys: exact. */
double mt__pandas_hashtable_buckets(double size_hint, double n_keys);

/* Bytes of that table: its 40-byte header, one flag bit a bucket (in
 * 32-bit words, at least one), and a bucket's key (key_bytes: 8 for
 * int64, float64 and objects, which are pointers; 1 to 4 for the narrow
 * integer tables of categorical codes) and its 8-byte value. This is
 * what HashTable.sizeof() reports and what tracemalloc sees allocated. */
double mt__pandas_hashtable_bytes(double size_hint, double n_keys, unsigned key_bytes);

/* Bytes of the categories of a categorical of k categories, each item
 * bytes in the categories' index (8 for objects: the pointers) plus
 * objects bytes of the objects they point to: the index, and the khash
 * table pandas builds when it checks that they are unique (it keeps it,
 * and memory_usage counts it, deep or not). Measured equal to
 * memory_usage(deep=True) less the codes on pandas 1.5.3 for 5 to 30000
 * string categories; tracemalloc sees the table allocated. */
double mt__pandas_categories_bytes(double k, double item, double objects);

/* Bytes of a pandas hash-table vector (the uniques factorize collects) of
 * n items: 128 items at first, growing by 4 for numbers and by 2 for
 * objects, 8 bytes an item. */
double mt__pandas_vector_bytes(double n, int object);

#endif

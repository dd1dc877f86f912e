/* The variable store: named float tensors in creation order, like TF's variable scopes. */
#include "layer/store.h"

#include <string.h>

#include "core/internal.h"

typedef struct store_entry {
  char *name;
  tconv_tensor *tensor; /* separately allocated so pointers stay valid as the store grows */
  bool trainable;
  uint64_t version;
} store_entry;

struct tconv_store {
  store_entry *entries;
  size_t count, capacity;
  char **layer_names;
  size_t layer_count;
};

tconv_store *tconv_store_create(void) { return tconv_alloc_zeroed(sizeof(tconv_store)); }

void tconv_store_destroy(tconv_store *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->count; i++) {
    tconv_dealloc(s->entries[i].name);
    tconv_tensor_free(s->entries[i].tensor);
    tconv_dealloc(s->entries[i].tensor);
  }
  for (size_t i = 0; i < s->layer_count; i++) tconv_dealloc(s->layer_names[i]);
  tconv_dealloc(s->layer_names);
  tconv_dealloc(s->entries);
  tconv_dealloc(s);
}

static store_entry *find_entry(const tconv_store *s, const char *name) {
  for (size_t i = 0; i < s->count; i++)
    if (strcmp(s->entries[i].name, name) == 0) return &s->entries[i];
  return NULL;
}

static store_entry *entry_of(const tconv_store *s, const tconv_tensor *t) {
  for (size_t i = 0; i < s->count; i++)
    if (s->entries[i].tensor == t) return &s->entries[i];
  return NULL;
}

tconv_tensor *tconv_store_find(const tconv_store *s, const char *name) {
  if (s == NULL || name == NULL) return NULL;
  store_entry *e = find_entry(s, name);
  return e ? e->tensor : NULL;
}

size_t tconv_store_count(const tconv_store *s) { return s ? s->count : 0; }

tconv_tensor *tconv_store_at(const tconv_store *s, size_t i, const char **name, bool *trainable) {
  if (s == NULL || i >= s->count) return NULL;
  if (name) *name = s->entries[i].name;
  if (trainable) *trainable = s->entries[i].trainable;
  return s->entries[i].tensor;
}

tconv_status tconv_store_add(tconv_store *s, const char *name, size_t rank, const size_t *shape,
                             bool trainable, tconv_tensor **out) {
  if (out) *out = NULL;
  RETURN_IF(s == NULL || name == NULL || name[0] == '\0', TCONV_INVALID_ARGUMENT,
            "store_add: a store and a non-empty name are required");
  RETURN_IF(find_entry(s, name) != NULL, TCONV_ALREADY_EXISTS,
            "variable %s already exists (set reuse to bind it)", name);
  if (s->count == s->capacity) {
    size_t cap = s->capacity ? 2 * s->capacity : 8;
    store_entry *e = tconv_realloc(s->entries, s->count * sizeof *e, cap * sizeof *e);
    RETURN_IF(e == NULL, TCONV_OUT_OF_MEMORY, "store: out of memory");
    s->entries = e;
    s->capacity = cap;
  }
  store_entry e = {tconv_strdup(name), tconv_alloc_zeroed(sizeof(tconv_tensor)), trainable, 0};
  tconv_status st = TCONV_OUT_OF_MEMORY;
  if (e.name == NULL || e.tensor == NULL) {
    tconv_error(st, "store: out of memory adding %s", name);
    goto fail;
  }
  st = tconv_tensor_alloc(e.tensor, rank, shape);
  if (st != TCONV_OK) goto fail;
  s->entries[s->count++] = e;
  if (out) *out = e.tensor;
  return TCONV_OK;
fail:
  tconv_dealloc(e.name);
  tconv_dealloc(e.tensor);
  return st;
}

uint64_t tconv_store_version(const tconv_store *s, const tconv_tensor *t) {
  store_entry *e = s ? entry_of(s, t) : NULL;
  return e ? e->version : 0;
}

void tconv_store_touch(tconv_store *s, const tconv_tensor *t) {
  store_entry *e = s ? entry_of(s, t) : NULL;
  if (e) e->version++;
}

bool tconv_store_has_layer_name(const tconv_store *s, const char *name) {
  for (size_t i = 0; i < s->layer_count; i++)
    if (strcmp(s->layer_names[i], name) == 0) return true;
  return false;
}

tconv_status tconv_store_add_layer_name(tconv_store *s, const char *name) {
  if (tconv_store_has_layer_name(s, name)) return TCONV_OK;
  char *copy = tconv_strdup(name);
  char **names = tconv_realloc(s->layer_names, s->layer_count * sizeof *names,
                               (s->layer_count + 1) * sizeof *names);
  if (copy == NULL || names == NULL) {
    tconv_dealloc(copy);
    if (names) s->layer_names = names;
    return tconv_error(TCONV_OUT_OF_MEMORY, "store: out of memory");
  }
  s->layer_names = names;
  s->layer_names[s->layer_count++] = copy;
  return TCONV_OK;
}

/* Hand-written decoding of the few protobuf messages a TF checkpoint holds: BundleHeaderProto,
 * BundleEntryProto (with TensorShapeProto and TensorSliceProto) and the TrackableObjectGraph of
 * TF2 object-based checkpoints.  No recursion beyond the fixed message nesting, varints of at most
 * 10 bytes, every length checked against the bytes left, unknown fields skipped by wire type,
 * group wire types rejected. */
#include "io/tfckpt.h"

#include <string.h>

int tfckpt_pb_varint(tfckpt_pb *r, uint64_t *v) {
  uint64_t x = 0;
  for (int i = 0; i < 10; i++) {
    if (r->p >= r->end) return -1;
    uint8_t b = *r->p++;
    if (i == 9 && b > 1) return -1; /* more than 64 bits */
    x |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

int tfckpt_pb_next(tfckpt_pb *r, uint32_t *field, uint32_t *wire) {
  if (r->p >= r->end) return 0;
  uint64_t tag;
  if (tfckpt_pb_varint(r, &tag) || tag >> 32) return -1;
  *field = (uint32_t)(tag >> 3);
  *wire = (uint32_t)(tag & 7);
  if (*field == 0 || *wire == 3 || *wire == 4 || *wire > 5) return -1;
  return 1;
}

int tfckpt_pb_bytes(tfckpt_pb *r, tfckpt_pb *sub) {
  uint64_t n;
  if (tfckpt_pb_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return -1;
  sub->p = r->p;
  sub->end = r->p + n;
  r->p += n;
  return 0;
}

int tfckpt_pb_skip(tfckpt_pb *r, uint32_t wire) {
  uint64_t v;
  tfckpt_pb sub;
  switch (wire) {
  case 0: return tfckpt_pb_varint(r, &v);
  case 1:
    if (r->end - r->p < 8) return -1;
    r->p += 8;
    return 0;
  case 2: return tfckpt_pb_bytes(r, &sub);
  case 5:
    if (r->end - r->p < 4) return -1;
    r->p += 4;
    return 0;
  default: return -1;
  }
}

/* Reads a varint field value, or skips a field of another wire type (a schema mismatch). */
static int pb_int(tfckpt_pb *r, uint32_t wire, int64_t *out) {
  uint64_t v;
  if (wire != 0) return -1;
  if (tfckpt_pb_varint(r, &v)) return -1;
  *out = (int64_t)v;
  return 0;
}

#define BAD(what) tconv_error(TCONV_BAD_FILE, "tf checkpoint: malformed %s", what)

static tconv_status decode_shape(tfckpt_pb r, const char *key, tfckpt_entry *e) {
  uint32_t f, w;
  int k;
  while ((k = tfckpt_pb_next(&r, &f, &w)) == 1) {
    if (f == 2 && w == 2) {
      tfckpt_pb dim;
      if (tfckpt_pb_bytes(&r, &dim)) return BAD("TensorShapeProto.dim");
      RETURN_IF(e->rank >= TCONV_MAX_RANK, TCONV_LIMIT_EXCEEDED,
                "tf checkpoint: tensor '%s' has more than %d dimensions", key, TCONV_MAX_RANK);
      int64_t size = 0;
      uint32_t df, dw;
      int dk;
      while ((dk = tfckpt_pb_next(&dim, &df, &dw)) == 1) {
        if (df == 1) {
          if (pb_int(&dim, dw, &size)) return BAD("TensorShapeProto.Dim.size");
        } else if (tfckpt_pb_skip(&dim, dw)) {
          return BAD("TensorShapeProto.Dim");
        }
      }
      if (dk < 0) return BAD("TensorShapeProto.Dim");
      RETURN_IF(size < 0, TCONV_BAD_FILE, "tf checkpoint: tensor '%s' has negative dimension %lld",
                key, (long long)size);
      e->dims[e->rank++] = size;
    } else if (f == 3 && w == 0) {
      int64_t v;
      if (pb_int(&r, w, &v)) return BAD("TensorShapeProto.unknown_rank");
      e->unknown_rank = v != 0;
    } else if (tfckpt_pb_skip(&r, w)) {
      return BAD("TensorShapeProto");
    }
  }
  return k < 0 ? BAD("TensorShapeProto") : TCONV_OK;
}

/* Checks one TensorSliceProto's extents: start >= 0, length >= 0 or absent ("full"), and
 * start + length without int64 overflow (TF's negative_extent_start / extent_end_overflow seeds). */
static tconv_status check_slice(tfckpt_pb r, const char *key) {
  uint32_t f, w;
  int k;
  size_t extents = 0;
  while ((k = tfckpt_pb_next(&r, &f, &w)) == 1) {
    if (f != 1 || w != 2) {
      if (tfckpt_pb_skip(&r, w)) return BAD("TensorSliceProto");
      continue;
    }
    tfckpt_pb ext;
    if (tfckpt_pb_bytes(&r, &ext)) return BAD("TensorSliceProto.extent");
    RETURN_IF(++extents > TCONV_MAX_RANK, TCONV_LIMIT_EXCEEDED,
              "tf checkpoint: tensor '%s': slice with more than %d extents", key, TCONV_MAX_RANK);
    int64_t start = 0, length = -1;
    bool has_length = false;
    uint32_t ef, ew;
    int ek;
    while ((ek = tfckpt_pb_next(&ext, &ef, &ew)) == 1) {
      if (ef == 1) {
        if (pb_int(&ext, ew, &start)) return BAD("TensorSliceProto.Extent.start");
      } else if (ef == 2) {
        if (pb_int(&ext, ew, &length)) return BAD("TensorSliceProto.Extent.length");
        has_length = true;
      } else if (tfckpt_pb_skip(&ext, ew)) {
        return BAD("TensorSliceProto.Extent");
      }
    }
    if (ek < 0) return BAD("TensorSliceProto.Extent");
    RETURN_IF(start < 0, TCONV_BAD_FILE, "tf checkpoint: tensor '%s': negative slice start %lld",
              key, (long long)start);
    int64_t end;
    RETURN_IF(has_length && (length < 0 || __builtin_add_overflow(start, length, &end)),
              TCONV_BAD_FILE, "tf checkpoint: tensor '%s': slice extent start %lld length %lld is "
              "invalid or overflows", key, (long long)start, (long long)length);
  }
  return k < 0 ? BAD("TensorSliceProto") : TCONV_OK;
}

tconv_status tfckpt_decode_entry(const uint8_t *v, size_t n, const char *key, tfckpt_entry *e) {
  tfckpt_pb r = {v, v + n};
  uint32_t f, w;
  int k;
  while ((k = tfckpt_pb_next(&r, &f, &w)) == 1) {
    tfckpt_pb sub;
    int64_t x;
    switch (f) {
    case 1:
      if (pb_int(&r, w, &x)) return BAD("BundleEntryProto.dtype");
      RETURN_IF(x < 0 || x > 1000, TCONV_BAD_FILE, "tf checkpoint: tensor '%s': dtype %lld is "
                "not a DataType", key, (long long)x);
      e->dtype = (int)x;
      break;
    case 2:
      if (w != 2 || tfckpt_pb_bytes(&r, &sub)) return BAD("BundleEntryProto.shape");
      e->rank = 0; /* a repeated message field: the last one wins, as protobuf merges */
      RETURN_IF_ERROR(decode_shape(sub, key, e));
      break;
    case 3:
      if (pb_int(&r, w, &e->shard_id)) return BAD("BundleEntryProto.shard_id");
      break;
    case 4:
      if (pb_int(&r, w, &e->offset)) return BAD("BundleEntryProto.offset");
      break;
    case 5:
      if (pb_int(&r, w, &e->size)) return BAD("BundleEntryProto.size");
      break;
    case 6:
      if (w != 5 || r.end - r.p < 4) return BAD("BundleEntryProto.crc32c");
      e->crc32c = (uint32_t)r.p[0] | (uint32_t)r.p[1] << 8 | (uint32_t)r.p[2] << 16 |
                  (uint32_t)r.p[3] << 24;
      e->has_crc = true;
      r.p += 4;
      break;
    case 7:
      if (w != 2 || tfckpt_pb_bytes(&r, &sub)) return BAD("BundleEntryProto.slices");
      RETURN_IF(++e->slices > TFCKPT_MAX_SLICES, TCONV_LIMIT_EXCEEDED,
                "tf checkpoint: tensor '%s' has more than %d slices", key, TFCKPT_MAX_SLICES);
      RETURN_IF_ERROR(check_slice(sub, key));
      break;
    default:
      if (tfckpt_pb_skip(&r, w)) return BAD("BundleEntryProto");
    }
  }
  return k < 0 ? BAD("BundleEntryProto") : TCONV_OK;
}

/* Our reader's consumer version for TF's CheckVersions (TF's kTensorBundleVersion is 1). */
#define TFCKPT_CONSUMER_VERSION 1

tconv_status tfckpt_decode_header(const uint8_t *v, size_t n, tfckpt_header *h) {
  memset(h, 0, sizeof *h);
  tfckpt_pb r = {v, v + n};
  uint32_t f, w;
  int k;
  while ((k = tfckpt_pb_next(&r, &f, &w)) == 1) {
    if (f == 1) {
      if (pb_int(&r, w, &h->num_shards)) return BAD("BundleHeaderProto.num_shards");
    } else if (f == 2) {
      if (pb_int(&r, w, &h->endianness)) return BAD("BundleHeaderProto.endianness");
    } else if (f == 3 && w == 2) {
      tfckpt_pb ver;
      if (tfckpt_pb_bytes(&r, &ver)) return BAD("VersionDef");
      uint32_t vf, vw;
      int vk;
      while ((vk = tfckpt_pb_next(&ver, &vf, &vw)) == 1) {
        int64_t x;
        if (vf == 1 || vf == 2) {
          if (pb_int(&ver, vw, &x)) return BAD("VersionDef");
          if (vf == 1) h->producer = x;
          else h->min_consumer = x;
        } else if (vf == 3 && vw == 0) {
          if (pb_int(&ver, vw, &x)) return BAD("VersionDef.bad_consumers");
          if (x == TFCKPT_CONSUMER_VERSION) h->bad_consumer = true;
        } else if (vf == 3 && vw == 2) { /* packed repeated int32 */
          tfckpt_pb packed;
          if (tfckpt_pb_bytes(&ver, &packed)) return BAD("VersionDef.bad_consumers");
          while (packed.p < packed.end) {
            uint64_t u;
            if (tfckpt_pb_varint(&packed, &u)) return BAD("VersionDef.bad_consumers");
            if ((int64_t)u == TFCKPT_CONSUMER_VERSION) h->bad_consumer = true;
          }
        } else if (tfckpt_pb_skip(&ver, vw)) {
          return BAD("VersionDef");
        }
      }
      if (vk < 0) return BAD("VersionDef");
    } else if (tfckpt_pb_skip(&r, w)) {
      return BAD("BundleHeaderProto");
    }
  }
  if (k < 0) return BAD("BundleHeaderProto");
  RETURN_IF(h->num_shards < 1 || h->num_shards > TFCKPT_MAX_SHARDS, TCONV_BAD_FILE,
            "tf checkpoint: num_shards %lld is outside [1, %d]", (long long)h->num_shards,
            TFCKPT_MAX_SHARDS);
  RETURN_IF(h->endianness != 0, TCONV_UNSUPPORTED,
            "tf checkpoint: big-endian bundles are not supported");
  RETURN_IF(h->producer < 0 || h->min_consumer > TFCKPT_CONSUMER_VERSION || h->bad_consumer,
            TCONV_UNSUPPORTED,
            "tf checkpoint: bundle version (producer %lld, min_consumer %lld) is not readable by "
            "consumer version %d", (long long)h->producer, (long long)h->min_consumer,
            TFCKPT_CONSUMER_VERSION);
  return TCONV_OK;
}

/* ---- TrackableObjectGraph ------------------------------------------------------------------ */

typedef struct span {
  const uint8_t *p;
  size_t n;
} span;

/* The first attribute (SerializedTensor) of a node: its full_name and checkpoint_key. */
static int node_attribute(tfckpt_pb node, span *full_name, span *key) {
  uint32_t f, w;
  int k;
  full_name->n = key->n = 0;
  while ((k = tfckpt_pb_next(&node, &f, &w)) == 1) {
    if (f == 2 && w == 2) {
      tfckpt_pb attr;
      if (tfckpt_pb_bytes(&node, &attr)) return -1;
      uint32_t af, aw;
      int ak;
      while ((ak = tfckpt_pb_next(&attr, &af, &aw)) == 1) {
        tfckpt_pb s;
        if ((af == 2 || af == 3) && aw == 2) {
          if (tfckpt_pb_bytes(&attr, &s)) return -1;
          span *dst = af == 2 ? full_name : key;
          dst->p = s.p;
          dst->n = (size_t)(s.end - s.p);
        } else if (tfckpt_pb_skip(&attr, aw)) {
          return -1;
        }
      }
      if (ak < 0) return -1;
      if (key->n) return 0; /* the VARIABLE_VALUE attribute comes first */
    } else if (tfckpt_pb_skip(&node, w)) {
      return -1;
    }
  }
  return k < 0 ? -1 : 0;
}

/* Calls fn with NUL-terminated copies; names with NUL bytes are skipped (not valid TF names). */
static tconv_status emit(tfckpt_alias_fn fn, void *ctx, span key, span name, span slot) {
  if (key.n == 0 || name.n == 0) return TCONV_OK;
  if (memchr(key.p, 0, key.n) || memchr(name.p, 0, name.n) || (slot.n && memchr(slot.p, 0, slot.n)))
    return TCONV_OK;
  if (slot.n == 0 && name.n > 2 && name.p[name.n - 2] == ':' && name.p[name.n - 1] == '0')
    name.n -= 2;
  size_t total = key.n + name.n + slot.n + 3;
  char *buf = tconv_alloc(total);
  RETURN_IF(buf == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint: out of memory");
  char *k = buf, *nm = buf + key.n + 1;
  memcpy(k, key.p, key.n);
  k[key.n] = 0;
  memcpy(nm, name.p, name.n);
  size_t len = name.n;
  if (slot.n) {
    if (len > 2 && nm[len - 2] == ':' && nm[len - 1] == '0') len -= 2;
    nm[len++] = '/';
    memcpy(nm + len, slot.p, slot.n);
    len += slot.n;
  }
  nm[len] = 0;
  tconv_status st = fn(ctx, k, nm);
  tconv_dealloc(buf);
  return st;
}

tconv_status tfckpt_object_graph_aliases(const uint8_t *g, size_t n, tfckpt_alias_fn fn,
                                         void *ctx) {
  tfckpt_pb r = {g, g + n};
  uint32_t f, w;
  int k;
  size_t count = 0;
  while ((k = tfckpt_pb_next(&r, &f, &w)) == 1) {
    if (tfckpt_pb_skip(&r, w)) return BAD("object graph");
    if (f == 1) count++;
  }
  if (k < 0) return BAD("object graph");
  if (count == 0) return TCONV_OK;
  /* count <= n / 2: every node costs at least a tag and a length byte. */
  span *nodes = tconv_alloc_zeroed(count * sizeof *nodes);
  RETURN_IF(nodes == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint: out of memory");
  tconv_status st = TCONV_OK;
  r.p = g;
  size_t i = 0;
  while (i < count && tfckpt_pb_next(&r, &f, &w) == 1) {
    tfckpt_pb sub = {NULL, NULL};
    if (f == 1 && w == 2) {
      if (tfckpt_pb_bytes(&r, &sub)) break; /* validated by the first pass */
      nodes[i].p = sub.p;
      nodes[i].n = (size_t)(sub.end - sub.p);
      i++;
    } else {
      tfckpt_pb_skip(&r, w);
    }
  }
  count = i;
  span none = {NULL, 0};
  for (i = 0; i < count && st == TCONV_OK; i++) {
    span full, key;
    tfckpt_pb node = {nodes[i].p, nodes[i].p + nodes[i].n};
    if (node_attribute(node, &full, &key)) {
      st = BAD("object graph node");
      break;
    }
    st = emit(fn, ctx, key, full, none);
    /* Slot variables (optimizer state): name them after the variable they belong to. */
    while (st == TCONV_OK && tfckpt_pb_next(&node, &f, &w) == 1) {
      tfckpt_pb slot;
      if (f != 3 || w != 2) {
        if (tfckpt_pb_skip(&node, w)) st = BAD("object graph node");
        continue;
      }
      if (tfckpt_pb_bytes(&node, &slot)) {
        st = BAD("SlotVariableReference");
        break;
      }
      int64_t orig = -1, slot_node = -1;
      span slot_name = {NULL, 0};
      uint32_t sf, sw;
      int sk;
      while ((sk = tfckpt_pb_next(&slot, &sf, &sw)) == 1) {
        if ((sf == 1 || sf == 3) && sw == 0) {
          if (pb_int(&slot, sw, sf == 1 ? &orig : &slot_node)) sk = -1;
        } else if (sf == 2 && sw == 2) {
          tfckpt_pb s;
          if (tfckpt_pb_bytes(&slot, &s)) sk = -1;
          else slot_name = (span){s.p, (size_t)(s.end - s.p)};
        } else if (tfckpt_pb_skip(&slot, sw)) {
          sk = -1;
        }
        if (sk < 0) break;
      }
      if (sk < 0) {
        st = BAD("SlotVariableReference");
        break;
      }
      if (orig < 0 || slot_node < 0 || (uint64_t)orig >= count || (uint64_t)slot_node >= count)
        continue; /* dangling references name nothing */
      span ofull, okey, sfull, skey;
      tfckpt_pb on = {nodes[orig].p, nodes[orig].p + nodes[orig].n};
      tfckpt_pb sn = {nodes[slot_node].p, nodes[slot_node].p + nodes[slot_node].n};
      if (node_attribute(on, &ofull, &okey) || node_attribute(sn, &sfull, &skey)) {
        st = BAD("object graph node");
        break;
      }
      if (sfull.n == 0 && slot_name.n) st = emit(fn, ctx, skey, ofull, slot_name);
    }
  }
  tconv_dealloc(nodes);
  return st;
}

"""Loading libtconv.so and describing its C API to ctypes.

The structs below mirror include/tconv.h field for field; tests/oracle/test_python.py compiles a
C program printing every offsetof/sizeof and compares them with these, so a layout change in
the header cannot go unnoticed.

The library is looked for, in order: the path in $TCONV_LIBRARY; next to this package
(libtconv.so.<major> or libtconv.so copied beside __init__.py); the source tree's build/
directory (python/tconv -> ../../build); the system's library path (an installed libtconv).
"""

import ctypes
import ctypes.util
import os

import numpy as np

# The C API generation these mirrors describe: libtconv.so.<ABI_MAJOR>.
ABI_MAJOR = 0

c_float_p = ctypes.POINTER(ctypes.c_float)
c_size_p = ctypes.POINTER(ctypes.c_size_t)

# ---- status codes (stable numbers, TCONV_STATUS_LIST) ------------------------------------------
OK = 0
INVALID_ARGUMENT = 1
INVALID_STATE = 2
OUT_OF_MEMORY = 3
UNSUPPORTED = 4
IO_ERROR = 5
BAD_FILE = 6
NOT_FOUND = 7
ALREADY_EXISTS = 8
LIMIT_EXCEEDED = 9
SHAPE_MISMATCH = 10

# ---- enums ---------------------------------------------------------------------------------------
PADDING = {"valid": 0, "same": 1, "explicit": 2}
DATA_FORMAT = {"channels_last": 0, "channels_first": 1}
FORM_KERAS, FORM_TF_NN, FORM_CORE = 0, 1, 2
REG_NONE, REG_L1, REG_L2, REG_L1_L2 = 0, 1, 2, 3
CONSTRAINTS = {"max_norm": 1, "min_max_norm": 2, "non_neg": 3, "unit_norm": 4}
SOURCE = {"tf": 0, "keras": 0, "pytorch": 1, "torch": 1}
MAX_RANK = 8

ActivationFn = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_float, ctypes.c_void_p)


class Initializer(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("value", ctypes.c_double),
        ("mean", ctypes.c_double),
        ("stddev", ctypes.c_double),
        ("minval", ctypes.c_double),
        ("maxval", ctypes.c_double),
        ("scale", ctypes.c_double),
        ("mode", ctypes.c_int),
        ("distribution", ctypes.c_int),
        ("gain", ctypes.c_double),
        ("seed", ctypes.c_uint64),
    ]


class Regularizer(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("l1", ctypes.c_double), ("l2", ctypes.c_double)]


class Constraint(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("min_value", ctypes.c_double),
        ("max_value", ctypes.c_double),
        ("rate", ctypes.c_double),
        ("axis_mask", ctypes.c_uint),
    ]


class Config(ctypes.Structure):
    _fields_ = [
        ("filters", ctypes.c_int64),
        ("kernel_size", ctypes.c_int64 * 2),
        ("strides", ctypes.c_int64 * 2),
        ("padding", ctypes.c_int),
        ("has_output_padding", ctypes.c_bool),
        ("output_padding", ctypes.c_int64 * 2),
        ("data_format", ctypes.c_int),
        ("dilation_rate", ctypes.c_int64 * 2),
        ("activation", ctypes.c_int),
        ("activation_alpha", ctypes.c_double),
        ("activation_fn", ActivationFn),
        ("activation_grad", ActivationFn),
        ("activation_ctx", ctypes.c_void_p),
        ("use_bias", ctypes.c_bool),
        ("kernel_initializer", Initializer),
        ("bias_initializer", Initializer),
        ("kernel_regularizer", Regularizer),
        ("bias_regularizer", Regularizer),
        ("activity_regularizer", Regularizer),
        ("kernel_constraint", Constraint),
        ("bias_constraint", Constraint),
        ("trainable", ctypes.c_bool),
        ("name", ctypes.c_char_p),
        ("reuse", ctypes.c_bool),
        ("form", ctypes.c_int),
        ("output_shape", ctypes.c_int64 * 2),
        ("explicit_padding", ctypes.c_int64 * 4),
        ("adjust", ctypes.c_int64 * 2),
        ("groups", ctypes.c_int64),
    ]


class Tensor(ctypes.Structure):
    _fields_ = [
        ("rank", ctypes.c_size_t),
        ("shape", ctypes.c_size_t * MAX_RANK),
        ("data", c_float_p),
    ]


class Geometry(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "batch", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "kernel_h", "kernel_w",
        "stride_h", "stride_w", "dilation_h", "dilation_w", "pad_top", "pad_bottom", "pad_left",
        "pad_right", "adjust_h", "adjust_w", "groups")] + [("data_format", ctypes.c_int)]


class LayerGrads(ctypes.Structure):
    _fields_ = [("kernel", Tensor), ("bias", Tensor)]


class NamedTensor(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("alias", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("value", Tensor),
    ]


class Weights(ctypes.Structure):
    _fields_ = [
        ("format", ctypes.c_char_p),
        ("count", ctypes.c_size_t),
        ("items", ctypes.POINTER(NamedTensor)),
        ("metadata", ctypes.c_char_p),
    ]


class RestoreOptions(ctypes.Structure):
    _fields_ = [
        ("source", ctypes.c_int),
        ("allow_missing", ctypes.c_bool),
        ("only_prefix", ctypes.c_char_p),
    ]


# The C name of each mirrored struct, for the layout test.
STRUCTS = {
    "tconv_initializer": Initializer,
    "tconv_regularizer": Regularizer,
    "tconv_constraint": Constraint,
    "tconv_config": Config,
    "tconv_tensor": Tensor,
    "tconv_geometry": Geometry,
    "tconv_layer_grads": LayerGrads,
    "tconv_named_tensor": NamedTensor,
    "tconv_weights": Weights,
    "tconv_restore_options": RestoreOptions,
}

P = ctypes.c_void_p
S = ctypes.c_int  # tconv_status
# name: (restype, argtypes).  Functions absent from the loaded library (an older build, or an
# API section that has not landed) are simply left out: callers test with has().
SIGNATURES = {
    "tconv_version": (ctypes.c_char_p, []),
    "tconv_status_string": (ctypes.c_char_p, [S]),
    "tconv_last_error": (ctypes.c_char_p, []),
    "tconv_config_default": (Config, []),
    "tconv_initializer_default": (Initializer, [ctypes.c_int]),
    "tconv_constraint_default": (Constraint, [ctypes.c_int]),
    "tconv_initializer_from_name": (S, [ctypes.c_char_p, ctypes.POINTER(Initializer)]),
    "tconv_activation_from_name": (S, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]),
    "tconv_activation_name": (ctypes.c_char_p, [ctypes.c_int]),
    "tconv_initializer_name": (ctypes.c_char_p, [ctypes.c_int]),
    "tconv_config_check": (S, [ctypes.POINTER(Config)]),
    "tconv_geometry_compute": (S, [ctypes.POINTER(Config), c_size_p, c_size_p,
                                   ctypes.POINTER(Geometry)]),
    "tconv_geometry_output_shape": (None, [ctypes.POINTER(Geometry), c_size_p]),
    "tconv_store_create": (P, []),
    "tconv_store_destroy": (None, [P]),
    "tconv_store_find": (ctypes.POINTER(Tensor), [P, ctypes.c_char_p]),
    "tconv_layer_create": (S, [ctypes.POINTER(Config), ctypes.POINTER(P)]),
    "tconv_layer_destroy": (None, [P]),
    "tconv_layer_build": (S, [P, P, ctypes.c_size_t]),
    "tconv_layer_name": (ctypes.c_char_p, [P]),
    "tconv_layer_kernel": (ctypes.POINTER(Tensor), [P]),
    "tconv_layer_bias": (ctypes.POINTER(Tensor), [P]),
    "tconv_layer_weights_changed": (None, [P]),
    "tconv_layer_reshape": (S, [P, c_size_p, c_size_p]),
    "tconv_layer_geometry": (ctypes.POINTER(Geometry), [P]),
    "tconv_layer_forward": (S, [P, c_float_p, c_float_p, P]),
    "tconv_layer_weight_loss": (ctypes.c_double, [P]),
    "tconv_layer_activity_loss": (ctypes.c_double, [P, c_float_p]),
    "tconv_layer_apply_constraints": (None, [P]),
    "tconv_threadpool_create": (S, [ctypes.c_size_t, ctypes.POINTER(P)]),
    "tconv_threadpool_destroy": (None, [P]),
    "tconv_threadpool_size": (ctypes.c_size_t, [P]),
    "tconv_set_kernel_path": (S, [ctypes.c_char_p]),
    "tconv_kernel_path": (ctypes.c_char_p, []),
    # training
    "tconv_layer_grads_alloc": (S, [P, ctypes.POINTER(LayerGrads)]),
    "tconv_layer_grads_free": (None, [ctypes.POINTER(LayerGrads)]),
    "tconv_layer_backward": (S, [P, c_float_p, c_float_p, c_float_p, c_float_p,
                                 ctypes.POINTER(LayerGrads), P]),
    "tconv_checkpoint_save": (S, [P, ctypes.c_char_p, ctypes.c_char_p]),
    "tconv_checkpoint_restore": (S, [P, ctypes.c_char_p]),
    "tconv_checkpoint_metadata": (S, [ctypes.POINTER(P), ctypes.c_size_t,
                                      ctypes.POINTER(ctypes.c_void_p)]),
    "tconv_string_free": (None, [ctypes.c_void_p]),
    # weight files
    "tconv_weights_load": (S, [ctypes.c_char_p, ctypes.POINTER(Weights)]),
    "tconv_weights_free": (None, [ctypes.POINTER(Weights)]),
    "tconv_dtype_name": (ctypes.c_char_p, [ctypes.c_int]),
    "tconv_restore_options_default": (RestoreOptions, []),
    "tconv_store_restore_file": (S, [P, ctypes.c_char_p, ctypes.POINTER(RestoreOptions),
                                     c_size_p]),
}


def _candidates():
    env = os.environ.get("TCONV_LIBRARY")
    if env:
        # An explicit choice is the only one: a wrong path must fail, not fall through.
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    names = ["libtconv.so.%d" % ABI_MAJOR, "libtconv.so"]
    paths = [os.path.join(here, n) for n in names]
    paths += [os.path.join(here, "..", "..", "build", n) for n in names]
    found = ctypes.util.find_library("tconv")
    if found:
        paths.append(found)
    return paths, False


def load():
    paths, explicit = _candidates()
    errors = []
    for path in paths:
        if not explicit and os.sep in path and not os.path.exists(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
            continue
        _declare(lib)
        _check_version(lib, path)
        lib._tconv_path = path
        return lib
    tried = "; ".join(errors) if errors else ", ".join(paths)
    raise ImportError(
        "tconv: cannot load libtconv.so (set TCONV_LIBRARY to its path, or build it with "
        "`make`): tried " + tried)


def _declare(lib):
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            continue
        fn.restype = restype
        fn.argtypes = argtypes


def _check_version(lib, path):
    version = lib.tconv_version().decode()
    major = int(version.split(".")[0])
    if major != ABI_MAJOR:
        raise ImportError("tconv: %s is version %s; this binding needs %d.x"
                          % (path, version, ABI_MAJOR))


def has(lib, name):
    """Whether the loaded library exports a C function (API sections land at different times)."""
    try:
        getattr(lib, name)
        return True
    except AttributeError:
        return False


def float_ptr(a):
    """A float* into a C-contiguous float32 array, without copying."""
    return a.ctypes.data_as(c_float_p)


def as_float32(x, what):
    """x as a C-contiguous float32 ndarray: the same object when it already is one (zero-copy),
    otherwise a converted copy."""
    a = np.asarray(x)
    if a.dtype == np.float32 and a.flags.c_contiguous:
        return a
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
            or a.dtype == np.bool_):
        raise TypeError("tconv: %s must be numeric, got dtype %s" % (what, a.dtype))
    return np.ascontiguousarray(a, dtype=np.float32)


def tensor_view(t, owner, writeable=False):
    """A NumPy view of a tconv_tensor's data (no copy) that keeps owner (the object whose memory
    it is) alive as long as the view lives; read-only unless asked."""
    shape = tuple(t.shape[i] for i in range(t.rank))
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if not t.data or n == 0:
        return np.zeros(shape, np.float32)
    buf = (ctypes.c_float * n).from_address(ctypes.addressof(t.data.contents))
    buf._tconv_owner = owner
    a = np.frombuffer(buf, dtype=np.float32).reshape(shape)
    a.flags.writeable = writeable
    return a

"""tconv: TensorFlow's Conv2DTranspose layer from Python, over the C library libtconv.

    import numpy as np
    from tconv import Conv2DTranspose
    layer = Conv2DTranspose(filters=32, kernel_size=3, strides=2, padding="same")
    y = layer(np.random.rand(1, 28, 28, 1).astype(np.float32))    # y.shape == (1, 56, 56, 32)

Only the standard library's ctypes and NumPy are needed.  libtconv.so is found through
$TCONV_LIBRARY, then beside this package, then the source tree's build/, then the system.
Errors are TconvError subclasses carrying the library's own message.
"""

import ctypes as _ctypes

import numpy as _np

from . import _lib
from .errors import (AlreadyExistsError, BadFileError, InvalidArgumentError, InvalidStateError,
                     LimitExceededError, NotFoundError, OutOfMemoryError, ShapeMismatchError,
                     TconvError, TconvIOError, UnsupportedError, check as _check)

lib = _lib.load()

from .layer import Conv2DTranspose  # noqa: E402  (needs lib)

__version__ = lib.tconv_version().decode()

__all__ = [
    "Conv2DTranspose", "TconvError", "InvalidArgumentError", "InvalidStateError",
    "OutOfMemoryError", "UnsupportedError", "TconvIOError", "BadFileError", "NotFoundError",
    "AlreadyExistsError", "LimitExceededError", "ShapeMismatchError", "version", "library_path",
    "load_weights", "set_kernel_path", "kernel_path",
]


def version():
    """The version of the loaded libtconv ("0.1.0")."""
    return lib.tconv_version().decode()


def library_path():
    """The path libtconv was loaded from."""
    return lib._tconv_path


def set_kernel_path(name):
    """Selects the kernels: "auto" (default), "avx2", "scalar" or "reference"."""
    _check(lib, lib.tconv_set_kernel_path(name.encode()), "set_kernel_path")


def kernel_path():
    return lib.tconv_kernel_path().decode()


def load_weights(path):
    """Reads every tensor of a weight file (TF checkpoint, Keras .h5/.keras, .npz, .npy,
    safetensors) into {name: float32 array}.  Recovered Keras names ("dec/kernel") are added as
    extra keys pointing to the same array when they differ from the stored name.  Tensors of
    non-float dtypes (listed by the file but not loadable) are left out."""
    if not _lib.has(lib, "tconv_weights_load"):
        raise NotImplementedError("load_weights: this libtconv has no weight-file readers")
    w = _lib.Weights()
    _check(lib, lib.tconv_weights_load(str(path).encode(), _ctypes.byref(w)), str(path))
    try:
        out = {}
        for i in range(w.count):
            item = w.items[i]
            if not item.value.data:
                continue
            a = _lib.tensor_view(item.value, None).copy()
            out[item.name.decode()] = a
            if item.alias and item.alias.decode() not in out:
                out[item.alias.decode()] = a
        return out
    finally:
        lib.tconv_weights_free(_ctypes.byref(w))


del _np

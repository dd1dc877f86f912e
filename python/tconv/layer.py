"""Conv2DTranspose: the Keras layer over libtconv.

    from tconv import Conv2DTranspose
    layer = Conv2DTranspose(filters=32, kernel_size=3, strides=2, padding="same")
    y = layer(x)                      # x: (N, H, W, C) NumPy array; builds on the first call

Arguments are Keras's (tf.keras.layers.Conv2DTranspose), with the same defaults.  Weights are
Keras's too: get_weights() is [kernel, bias] with kernel (kh, kw, filters, in_channels).
"""

import ctypes
import re
import threading

import numpy as np

from . import _lib
from .errors import check

_KERAS_DEFAULT_REG = 0.01  # keras.regularizers.l1() / l2() / l1_l2() default factors


def _pair(v, what):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    t = tuple(int(e) for e in v)
    if len(t) != 2:
        raise ValueError("%s must be an int or a tuple of 2 ints, got %r" % (what, v))
    return t


def _snake(name):
    """Keras class names ("GlorotUniform", "MaxNorm") to the library's names ("glorot_uniform")."""
    if "_" in name or name.islower():
        return name.lower()
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _spec(spec):
    """(name, options) from a string, a flat dict {"name"/"kind": ..., options} or a Keras
    get_config dict {"class_name": ..., "config": {...}}."""
    if isinstance(spec, str):
        return _snake(spec), {}
    if isinstance(spec, dict):
        if "class_name" in spec:
            return _snake(spec["class_name"]), dict(spec.get("config") or {})
        opts = dict(spec)
        name = opts.pop("name", None) or opts.pop("kind", None)
        return (_snake(name) if name else None), opts
    if spec is None:
        raise TypeError("expected a name or a dict, got None")
    raise TypeError("expected a name or a dict, got %r" % (spec,))


class Conv2DTranspose:
    """tf.keras.layers.Conv2DTranspose on NumPy arrays, computed by libtconv.

    Beyond Keras: seed (initializer seed; same seed, same weights), activation_alpha (leaky_relu
    / elu), threads (None: the calling thread; N: a pool of N threads; 0: one per CPU; results
    are bitwise identical for every count), and backward() for the gradients."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 seed=None, activation_alpha=None, threads=None):
        from . import lib  # the loaded library (import-time failure is reported there)

        self._lib = lib
        self._layer = None
        self._store = None
        self._pool = None
        self._shape = None  # the input shape the layer is reshaped for
        self._lock = threading.Lock()
        self.built = False
        self._config = dict(
            filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
            output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
            trainable=trainable, name=name, seed=seed, activation_alpha=activation_alpha,
            threads=threads)
        self._name_bytes = name.encode() if name is not None else None
        self._cfg = self._make_config()
        check(lib, lib.tconv_config_check(ctypes.byref(self._cfg)), "Conv2DTranspose")
        self.data_format = data_format or "channels_last"
        self.use_bias = bool(use_bias)
        if threads is not None:
            pool = ctypes.c_void_p()
            check(lib, lib.tconv_threadpool_create(int(threads), ctypes.byref(pool)), "threads")
            self._pool = pool

    # ---- configuration ------------------------------------------------------------------------
    def _make_config(self):
        lib, c = self._lib, self._config
        cfg = lib.tconv_config_default()
        cfg.filters = int(c["filters"])
        cfg.kernel_size[:] = _pair(c["kernel_size"], "kernel_size")
        cfg.strides[:] = _pair(c["strides"], "strides")
        cfg.dilation_rate[:] = _pair(c["dilation_rate"], "dilation_rate")
        padding = str(c["padding"]).lower()
        if padding not in ("valid", "same"):
            raise ValueError("padding must be 'valid' or 'same', got %r" % (c["padding"],))
        cfg.padding = _lib.PADDING[padding]
        if c["output_padding"] is not None:
            cfg.has_output_padding = True
            cfg.output_padding[:] = _pair(c["output_padding"], "output_padding")
        df = c["data_format"] or "channels_last"
        if df not in _lib.DATA_FORMAT:
            raise ValueError("data_format must be 'channels_last' or 'channels_first', got %r" % df)
        cfg.data_format = _lib.DATA_FORMAT[df]
        act = c["activation"]
        if act is not None:
            if not isinstance(act, str):
                raise TypeError("activation must be a name such as 'relu' (callables are not "
                                "supported by the binding), got %r" % (act,))
            kind = ctypes.c_int()
            check(lib, lib.tconv_activation_from_name(act.encode(), ctypes.byref(kind)),
                  "activation")
            cfg.activation = kind.value
        if c["activation_alpha"] is not None:
            cfg.activation_alpha = float(c["activation_alpha"])
        cfg.use_bias = bool(c["use_bias"])
        cfg.kernel_initializer = self._initializer(c["kernel_initializer"], c["seed"])
        cfg.bias_initializer = self._initializer(c["bias_initializer"], c["seed"])
        cfg.kernel_regularizer = self._regularizer(c["kernel_regularizer"])
        cfg.bias_regularizer = self._regularizer(c["bias_regularizer"])
        cfg.activity_regularizer = self._regularizer(c["activity_regularizer"])
        cfg.kernel_constraint = self._constraint(c["kernel_constraint"])
        cfg.bias_constraint = self._constraint(c["bias_constraint"])
        cfg.trainable = bool(c["trainable"])
        cfg.name = self._name_bytes
        return cfg

    def _initializer(self, spec, seed):
        lib = self._lib
        name, opts = _spec(spec)
        if name is None:
            raise ValueError("initializer %r has no name (\"class_name\" or \"name\")" % (spec,))
        init = _lib.Initializer()
        check(lib, lib.tconv_initializer_from_name(name.encode(), ctypes.byref(init)),
              "initializer")
        for key in ("value", "mean", "stddev", "minval", "maxval", "scale", "gain"):
            if opts.get(key) is not None:
                setattr(init, key, float(opts[key]))
        modes = {"fan_in": 0, "fan_out": 1, "fan_avg": 2}
        dists = {"truncated_normal": 0, "normal": 0, "untruncated_normal": 1, "uniform": 2}
        if opts.get("mode") is not None:
            init.mode = modes[opts["mode"]]
        if opts.get("distribution") is not None:
            init.distribution = dists[opts["distribution"]]
        s = opts.get("seed", seed)
        if s is not None:
            init.seed = int(s)
        return init

    def _regularizer(self, spec):
        r = _lib.Regularizer()
        if spec is None:
            return r
        name, opts = _spec(spec)
        if name is None:
            name = "l1_l2"
        kinds = {"l1": _lib.REG_L1, "l2": _lib.REG_L2, "l1_l2": _lib.REG_L1_L2,
                 "l1l2": _lib.REG_L1_L2}
        if name not in kinds:
            raise ValueError("unknown regularizer %r (l1, l2 or l1_l2)" % (name,))
        r.kind = kinds[name]
        default = _KERAS_DEFAULT_REG if not opts else 0.0
        r.l1 = float(opts.get("l1", default if name != "l2" else 0.0))
        r.l2 = float(opts.get("l2", default if name != "l1" else 0.0))
        return r

    def _constraint(self, spec):
        lib = self._lib
        if spec is None:
            return _lib.Constraint()
        name, opts = _spec(spec)
        if name not in _lib.CONSTRAINTS:
            raise ValueError("unknown constraint %r (%s)" % (name, ", ".join(_lib.CONSTRAINTS)))
        c = lib.tconv_constraint_default(_lib.CONSTRAINTS[name])
        for key in ("min_value", "max_value", "rate"):
            if opts.get(key) is not None:
                setattr(c, key, float(opts[key]))
        if opts.get("axis") is not None:
            axes = opts["axis"]
            axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
            c.axis_mask = sum(1 << (int(a) % 4) for a in axes)  # kernel axes (kh, kw, f, in)
        return c

    def get_config(self):
        """The constructor arguments (Keras's get_config)."""
        return dict(self._config)

    @property
    def name(self):
        if self.built:
            return self._lib.tconv_layer_name(self._layer).decode()
        return self._config["name"]

    # ---- lifecycle ----------------------------------------------------------------------------
    def build(self, input_shape):
        """Makes the kernel and bias for input_shape (N, H, W, C), or (N, C, H, W) with
        channels_first; the first call does it on its own."""
        lib = self._lib
        if self.built:
            return
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError("Conv2DTranspose expects a rank-4 input, got shape %r" % (shape,))
        in_channels = shape[1] if self.data_format == "channels_first" else shape[3]
        if in_channels is None or int(in_channels) < 1:
            raise ValueError("the channel dimension of the input must be known, got %r" % (shape,))
        store = lib.tconv_store_create()
        if not store:
            raise MemoryError("tconv: out of memory creating the variable store")
        layer = ctypes.c_void_p()
        try:
            check(lib, lib.tconv_layer_create(ctypes.byref(self._cfg), ctypes.byref(layer)),
                  "Conv2DTranspose")
            check(lib, lib.tconv_layer_build(layer, store, int(in_channels)), "build")
        except BaseException:
            if layer:
                lib.tconv_layer_destroy(layer)
            lib.tconv_store_destroy(store)
            raise
        self._store = ctypes.c_void_p(store)
        self._layer = layer
        self.built = True

    def _reshape(self, shape):
        if shape != self._shape:
            in_shape = (ctypes.c_size_t * 4)(*shape)
            out_shape = (ctypes.c_size_t * 4)()
            check(self._lib, self._lib.tconv_layer_reshape(self._layer, in_shape, out_shape),
                  "Conv2DTranspose")
            self._shape = shape
            self._out_shape = tuple(out_shape)
        return self._out_shape

    def compute_output_shape(self, input_shape):
        """The output shape for an input shape, without running anything."""
        lib = self._lib
        g = _lib.Geometry()
        shape = (ctypes.c_size_t * 4)(*[int(d) for d in input_shape])
        check(lib, lib.tconv_geometry_compute(ctypes.byref(self._cfg), shape, None,
                                              ctypes.byref(g)), "Conv2DTranspose")
        out = (ctypes.c_size_t * 4)()
        lib.tconv_geometry_output_shape(ctypes.byref(g), out)
        return tuple(out)

    def _input(self, x):
        x = _lib.as_float32(x, "input")
        if x.ndim != 4:
            raise ValueError("Conv2DTranspose expects a rank-4 input (N, H, W, C), got shape %r"
                             % (x.shape,))
        if not self.built:
            self.build(x.shape)
        return x

    def __call__(self, x, out=None):
        """y = activation(conv2d_transpose(x, kernel) + bias).  x is used in place when it is a
        C-contiguous float32 array (converted otherwise); out, if given, must be a C-contiguous
        float32 array of the output shape and receives y (no allocation)."""
        lib = self._lib
        x = self._input(x)
        with self._lock:
            out_shape = self._reshape(x.shape)
            y = self._output(out, out_shape, "out")
            check(lib, lib.tconv_layer_forward(self._layer, _lib.float_ptr(x), _lib.float_ptr(y),
                                               self._pool), "Conv2DTranspose")
        return y

    @staticmethod
    def _output(out, shape, what):
        if out is None:
            return np.empty(shape, np.float32)
        if not (isinstance(out, np.ndarray) and out.dtype == np.float32
                and out.flags.c_contiguous and out.flags.writeable and out.shape == shape):
            raise ValueError("%s must be a writeable C-contiguous float32 array of shape %r"
                             % (what, shape))
        return out

    # ---- weights ------------------------------------------------------------------------------
    def _require_built(self, what):
        if not self.built:
            raise RuntimeError("%s: the layer is not built yet (call it on an input, or call "
                               "build(input_shape))" % what)

    def _views(self, writeable=False):
        lib = self._lib
        views = [_lib.tensor_view(lib.tconv_layer_kernel(self._layer).contents, self, writeable)]
        if self.use_bias:
            views.append(_lib.tensor_view(lib.tconv_layer_bias(self._layer).contents, self,
                                          writeable))
        return views

    @property
    def kernel(self):
        """The kernel (kh, kw, filters, in_channels), a read-only view of the layer's memory."""
        self._require_built("kernel")
        return self._views()[0]

    @property
    def bias(self):
        """The bias (filters,), a read-only view; None without bias."""
        self._require_built("bias")
        return self._views()[1] if self.use_bias else None

    @property
    def weights(self):
        return self._views() if self.built else []

    def get_weights(self):
        """[kernel, bias] as copies, in Keras's order and layout."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Sets [kernel, bias] (Keras order and layout).  An unbuilt layer is built from the
        kernel's shape first."""
        weights = list(weights)
        if not self.built and weights:
            k = np.asarray(weights[0])
            if k.ndim == 4:
                c = k.shape[3]
                self.build((1, c, 1, 1) if self.data_format == "channels_first" else (1, 1, 1, c))
        views = self._views(writeable=True) if self.built else []
        if len(weights) != len(views):
            raise ValueError("set_weights: the layer expects %d weights (%s), got %d"
                             % (len(views), "kernel, bias" if self.use_bias else "kernel",
                                len(weights)))
        arrays = []
        for view, w, what in zip(views, weights, ("kernel", "bias")):
            w = np.asarray(w)
            if w.shape != view.shape:
                raise ValueError("set_weights: %s shape %r does not match the layer's %r"
                                 % (what, w.shape, view.shape))
            arrays.append(w)
        with self._lock:
            for view, w in zip(views, arrays):
                np.copyto(view, w, casting="same_kind")
            self._lib.tconv_layer_weights_changed(self._layer)

    def regularization_loss(self):
        """The kernel and bias regularizers' loss (Keras's layer.losses, less the activity term)."""
        self._require_built("regularization_loss")
        return float(self._lib.tconv_layer_weight_loss(self._layer))

    # ---- training -----------------------------------------------------------------------------
    def backward(self, x, dy, y=None, compute_dx=True):
        """Gradients of a scalar loss, given dy = d loss / d y for the output y = layer(x).
        Returns (dx, [dkernel, dbias]): dx has x's shape (None when compute_dx is False); the
        list matches get_weights().  The activity and weight regularizers' terms are included,
        as Keras adds layer.losses to the loss.  y (the forward output) saves a recomputation."""
        lib = self._lib
        if not _lib.has(lib, "tconv_layer_backward"):
            raise NotImplementedError("backward: this libtconv has no tconv_layer_backward")
        x = self._input(x)
        dy = _lib.as_float32(dy, "dy")
        if y is not None:
            y = _lib.as_float32(y, "y")
        with self._lock:
            out_shape = self._reshape(x.shape)
            for a, what in ((dy, "dy"), (y, "y")):
                if a is not None and a.shape != out_shape:
                    raise ValueError("backward: %s has shape %r, the output is %r"
                                     % (what, a.shape, out_shape))
            # Gradient buffers are NumPy arrays the library writes into directly.
            grads = _lib.LayerGrads()
            arrays = []
            for slot, view in zip(("kernel", "bias"), self._views()):
                a = np.empty(view.shape, np.float32)
                t = getattr(grads, slot)
                t.rank = a.ndim
                t.shape[:a.ndim] = a.shape
                t.data = _lib.float_ptr(a)
                arrays.append(a)
            dx = np.empty(x.shape, np.float32) if compute_dx else None
            check(lib, lib.tconv_layer_backward(
                self._layer, _lib.float_ptr(x), _lib.float_ptr(y) if y is not None else None,
                _lib.float_ptr(dy), _lib.float_ptr(dx) if dx is not None else None,
                ctypes.byref(grads), self._pool), "backward")
        return dx, arrays

    # ---- files --------------------------------------------------------------------------------
    def load_weights(self, path, source="tf", allow_missing=False):
        """Restores kernel and bias from any weight file libtconv reads: a TF checkpoint
        (model.ckpt prefix, .index or its directory), Keras .h5/.weights.h5/.keras, .npz,
        safetensors (PyTorch's too, with source="pytorch"), or a save_weights() checkpoint.
        Variables are matched by name ("<layer name>/kernel", also as a suffix of the stored
        name).  Returns the number of tensors restored."""
        lib = self._lib
        self._require_built("load_weights")
        if source not in _lib.SOURCE:
            raise ValueError("source must be one of %s" % ", ".join(sorted(_lib.SOURCE)))
        if not _lib.has(lib, "tconv_store_restore_file"):
            raise NotImplementedError("load_weights: this libtconv cannot restore weight files")
        opt = lib.tconv_restore_options_default()
        opt.source = _lib.SOURCE[source]
        opt.allow_missing = bool(allow_missing)
        n = ctypes.c_size_t()
        with self._lock:
            check(lib, lib.tconv_store_restore_file(self._store, str(path).encode(),
                                                    ctypes.byref(opt), ctypes.byref(n)),
                  str(path))
            lib.tconv_layer_weights_changed(self._layer)
        return n.value

    def save_weights(self, path):
        """Writes the layer's variables as a tconv checkpoint (safetensors with the layer's
        config in its metadata), atomically.  load_weights() and `tconv inspect` read it."""
        lib = self._lib
        self._require_built("save_weights")
        if not _lib.has(lib, "tconv_checkpoint_save"):
            raise NotImplementedError("save_weights: this libtconv has no checkpoint API")
        meta = ctypes.c_void_p()
        if _lib.has(lib, "tconv_checkpoint_metadata"):
            layers = (ctypes.c_void_p * 1)(self._layer.value)
            check(lib, lib.tconv_checkpoint_metadata(layers, 1, ctypes.byref(meta)), "metadata")
        try:
            check(lib, lib.tconv_checkpoint_save(self._store, str(path).encode(),
                                                 ctypes.cast(meta, ctypes.c_char_p)), str(path))
        finally:
            if meta:
                lib.tconv_string_free(meta)

    # ---- teardown -----------------------------------------------------------------------------
    def __del__(self):
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        if getattr(self, "_layer", None):
            lib.tconv_layer_destroy(self._layer)
            self._layer = None
        if getattr(self, "_store", None):
            lib.tconv_store_destroy(self._store)
            self._store = None
        if getattr(self, "_pool", None):
            lib.tconv_threadpool_destroy(self._pool)
            self._pool = None

    def __repr__(self):
        c = self._config
        return ("Conv2DTranspose(filters=%r, kernel_size=%r, strides=%r, padding=%r%s)"
                % (c["filters"], c["kernel_size"], c["strides"], c["padding"],
                   ", built" if self.built else ""))

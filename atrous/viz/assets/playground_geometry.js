/* atrous playground: the geometry.
 *
 * A small port of atrous.geometry (spec.py, shape.py, field.py) and of the canvas plan of
 * atrous.viz.animate, for the page to compute offline. It is not a second source of truth:
 * tests/viz/test_playground_js.py runs it in node on more than 10,000 random settings and
 * compares every output size, padding, tap set, hole, phase and refusal (word for word) with
 * the Python core. Keep the two in step: change the Python first, then this file, then run
 * that test.
 */

var MODES = ["valid", "same", "causal", "full"];

function SpecError(message) {
  this.name = "SpecError";
  this.message = message;
}
SpecError.prototype = Object.create(Error.prototype);
SpecError.prototype.constructor = SpecError;

// ------------------------------------------------------------------ Python-style text

function pyRepr(v) {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    if (Number.isNaN(v)) return "nan";
    return String(v);
  }
  if (typeof v === "string") {
    var q = v.indexOf("'") >= 0 && v.indexOf('"') < 0 ? '"' : "'";
    var body = v.replace(/\\/g, "\\\\");
    if (q === "'") body = body.replace(/'/g, "\\'");
    return q + body + q;
  }
  if (Array.isArray(v)) {
    var parts = v.map(pyRepr);
    return "(" + parts.join(", ") + (parts.length === 1 ? "," : "") + ")";
  }
  return String(v);
}

function floorDiv(a, b) {
  return Math.floor(a / b);
}

function gcd(a, b) {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) {
    var t = a % b;
    a = b;
    b = t;
  }
  return a;
}

function frac(n, d) {
  if (d < 0) {
    n = -n;
    d = -d;
  }
  var g = gcd(n, d) || 1;
  return [n / g, d / g];
}

function fracText(f) {
  return f[1] === 1 ? String(f[0]) : f[0] + "/" + f[1];
}

// ------------------------------------------------------------------ validation (spec.py)

function rangeText(minimum, maximum) {
  if (maximum === null || maximum === undefined) return ">= " + minimum;
  if (maximum === minimum) return "equal to " + minimum;
  return "in [" + minimum + ", " + maximum + "]";
}

function checkInt(name, value, minimum, maximum) {
  if (maximum === undefined) maximum = null;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new SpecError(name + " must be an integer " + rangeText(minimum, maximum) + ", got " + pyRepr(value));
  }
  if (value < minimum || (maximum !== null && value > maximum)) {
    throw new SpecError(name + " must be an integer " + rangeText(minimum, maximum) + ", got " + value);
  }
  return value;
}

function perAxis(name, value, ndim, minimum) {
  var out = [];
  if (Array.isArray(value)) {
    if (value.length !== ndim) {
      throw new SpecError(
        name + " has " + value.length + " entries " + pyRepr(value) + ", expected " + ndim + " (one per axis)"
      );
    }
    for (var i = 0; i < value.length; i++) out.push(checkInt(name + "[" + i + "]", value[i], minimum));
    return out;
  }
  var v = checkInt(name, value, minimum);
  for (var j = 0; j < ndim; j++) out.push(v);
  return out;
}

function padEntry(name, value) {
  if (typeof value === "string") {
    if (MODES.indexOf(value) < 0) {
      throw new SpecError(
        name + " must be an integer >= 0, a (lo, hi) pair or one of " + MODES.join(", ") + "; got " + pyRepr(value)
      );
    }
    return value;
  }
  if (Array.isArray(value)) {
    if (value.length !== 2) throw new SpecError(name + " must be an integer or a (lo, hi) pair, got " + pyRepr(value));
    return [checkInt(name + "[0] (lo)", value[0], 0), checkInt(name + "[1] (hi)", value[1], 0)];
  }
  var p = checkInt(name, value, 0);
  return [p, p];
}

function normalisePadding(value, ndim) {
  var out = [];
  if (Array.isArray(value)) {
    if (value.length !== ndim) {
      throw new SpecError(
        "padding has " + value.length + " entries " + pyRepr(value) + ", expected " + ndim +
          " (one per axis; write an asymmetric 1-d padding as ((lo, hi),))"
      );
    }
    for (var i = 0; i < value.length; i++) out.push(padEntry("padding[" + i + "]", value[i]));
    return out;
  }
  var e = padEntry("padding", value);
  for (var j = 0; j < ndim; j++) out.push(e);
  return out;
}

function inferNdim(ndim, values) {
  var names = Object.keys(values);
  var lengths = [];
  names.forEach(function (k) {
    if (Array.isArray(values[k])) lengths.push([k, values[k].length]);
  });
  if (ndim !== null && ndim !== undefined) {
    ndim = checkInt("ndim", ndim, 1);
    lengths.forEach(function (kn) {
      if (kn[1] !== ndim) throw new SpecError(kn[0] + " has " + kn[1] + " entries, expected ndim=" + ndim);
    });
    return [ndim, false];
  }
  if (!lengths.length) return [1, true];
  var distinct = {};
  lengths.forEach(function (kn) {
    distinct[kn[1]] = true;
  });
  if (Object.keys(distinct).length > 1) {
    throw new SpecError(
      "per-axis parameters disagree on the number of axes: " +
        lengths.map(function (kn) { return kn[0] + " has " + kn[1]; }).join(", ")
    );
  }
  var n = lengths[0][1];
  if (n < 1) throw new SpecError("per-axis parameters must have at least one entry");
  return [n, false];
}

/** ConvSpec(kernel_size, stride, padding, dilation, transposed=, output_padding=, ndim=). */
function ConvSpec(kernel, stride, padding, dilation, opts) {
  opts = opts || {};
  var transposed = opts.transposed === undefined ? false : opts.transposed;
  var outputPadding = opts.outputPadding === undefined ? 0 : opts.outputPadding;
  if (stride === undefined) stride = 1;
  if (padding === undefined) padding = 0;
  if (dilation === undefined) dilation = 1;
  var nb = inferNdim(opts.ndim, {
    kernel_size: kernel,
    stride: stride,
    padding: padding,
    dilation: dilation,
    output_padding: outputPadding,
  });
  var n = nb[0];
  if (typeof transposed !== "boolean") throw new SpecError("transposed must be True or False, got " + pyRepr(transposed));
  var ks = perAxis("kernel_size", kernel, n, 1);
  var st = perAxis("stride", stride, n, 1);
  var dl = perAxis("dilation", dilation, n, 1);
  var pad = normalisePadding(padding, n);
  var op = perAxis("output_padding", outputPadding, n, 0);
  if (!transposed && op.some(function (v) { return v; })) {
    throw new SpecError(
      "output_padding=" + pyRepr(outputPadding) + " is only valid for a transposed convolution (use 0)"
    );
  }
  for (var i = 0; i < n; i++) {
    var lim = Math.max(st[i], dl[i]);
    if (op[i] >= lim) {
      throw new SpecError(
        "output_padding=" + op[i] + " on axis " + i + " must be smaller than stride (" + st[i] + ") or dilation (" +
          dl[i] + "): valid range [0, " + (lim - 1) + "]"
      );
    }
    if (transposed && pad[i] === "same" && op[i]) {
      throw new SpecError(
        "output_padding=" + op[i] + " on axis " + i + " conflicts with padding='same', which chooses it (use 0)"
      );
    }
  }
  this.ndim = n;
  this.broadcast = nb[1];
  this.kernel = ks;
  this.stride = st;
  this.padding = pad;
  this.dilation = dl;
  this.transposed = transposed;
  this.outputPadding = op;
}

ConvSpec.prototype.forNdim = function (ndim) {
  if (ndim === this.ndim) return this;
  if (!this.broadcast) {
    throw new SpecError(this.repr() + " has " + this.ndim + " axes but the input has " + ndim + " spatial axes");
  }
  var p0 = this.padding[0];
  var pad = typeof p0 === "string" ? p0 : [];
  if (typeof p0 !== "string") for (var i = 0; i < ndim; i++) pad.push(p0);
  return new ConvSpec(this.kernel[0], this.stride[0], pad, this.dilation[0], {
    transposed: this.transposed,
    outputPadding: this.outputPadding[0],
    ndim: ndim,
  });
};

/** The same repr as Python's ConvSpec.__repr__. */
ConvSpec.prototype.repr = function () {
  var self = this;
  var fields = [
    ["kernel_size", this.kernel],
    ["stride", this.stride],
    ["padding", this.padding],
    ["dilation", this.dilation],
    ["transposed", this.kernel.map(function () { return self.transposed; })],
    ["output_padding", this.outputPadding],
  ];
  var defaults = { stride: 1, padding: 0, dilation: 1, transposed: false, output_padding: 0 };
  var parts = [];
  fields.forEach(function (nv) {
    var name = nv[0];
    var values = nv[1];
    if (name === "padding") {
      values = values.map(function (p) { return Array.isArray(p) && p[0] === p[1] ? p[0] : p; });
    }
    if (name in defaults && values.every(function (v) { return v === defaults[name]; })) return;
    var distinct = {};
    values.forEach(function (v) { distinct[pyRepr(v)] = true; });
    var shown = self.broadcast || (Object.keys(distinct).length === 1 && name === "transposed") ? values[0] : values;
    parts.push(name + "=" + pyRepr(shown));
  });
  return "ConvSpec(" + parts.join(", ") + ")";
};

ConvSpec.prototype.isResolved = function () {
  return !this.padding.some(function (p) { return typeof p === "string"; });
};

ConvSpec.prototype.resolve = function (sizes) {
  var pads = [];
  var ops = [];
  for (var i = 0; i < this.ndim; i++) {
    var r = resolveAxis(
      this.padding[i], this.kernel[i], this.stride[i], this.dilation[i], this.transposed,
      sizes ? sizes[i] : null, i
    );
    pads.push([r[0], r[1]]);
    ops.push(this.padding[i] === "same" ? r[2] : this.outputPadding[i]);
  }
  return new ConvSpec(this.kernel, this.stride, pads, this.dilation, {
    transposed: this.transposed,
    outputPadding: ops,
    ndim: this.ndim,
  });
};

ConvSpec.prototype.axes = function (sizes) {
  var r = this.resolve(sizes);
  var kind = this.transposed ? "transposed" : "conv";
  var out = [];
  for (var i = 0; i < r.ndim; i++) {
    out.push(makeAxis(kind, r.kernel[i], r.stride[i], r.dilation[i], r.padding[i][0], r.padding[i][1], r.outputPadding[i]));
  }
  return out;
};

function makeAxis(kind, kernel, stride, dilation, lo, hi, outputPadding) {
  return {
    kind: kind,
    kernel: kernel,
    stride: stride,
    dilation: dilation,
    lo: lo,
    hi: hi,
    outputPadding: outputPadding || 0,
    effectiveKernel: dilation * (kernel - 1) + 1,
  };
}

function axisShifts(axis) {
  if (axis.kind === "transposed") return [1, axis.stride];
  return [axis.stride, 1];
}

// ------------------------------------------------------------------ shape.py

function axisName(axis) {
  return axis === null || axis === undefined ? "" : " on axis " + axis;
}

function same1d(n, k, s, d) {
  var out = -floorDiv(-n, s);
  var total = Math.max(0, (out - 1) * s + d * (k - 1) + 1 - n);
  return [floorDiv(total, 2), total - floorDiv(total, 2)];
}

function resolveAxis(pad, k, s, d, transposed, n, axis) {
  if (typeof pad !== "string") return [pad[0], pad[1], 0];
  var span = d * (k - 1);
  if (pad === "valid") return [0, 0, 0];
  if (pad === "causal") return [span, 0, 0];
  if (pad === "full") return [span, span, 0];
  if (transposed) {
    var total = Math.max(0, span + 1 - s);
    return [floorDiv(total, 2), total - floorDiv(total, 2), Math.max(0, s - span - 1)];
  }
  if (s === 1) return [floorDiv(span, 2), span - floorDiv(span, 2), 0];
  if (n === null || n === undefined) {
    throw new SpecError(
      "padding='same' with stride=" + s + axisName(axis) + " depends on the input size: pass input_size"
    );
  }
  var lh = same1d(n, k, s, d);
  return [lh[0], lh[1], 0];
}

function minInputSize(axis) {
  if (axis.kind === "conv") return Math.max(1, axis.effectiveKernel - axis.lo - axis.hi);
  if (axis.kind === "transposed") {
    var need = axis.lo + axis.hi + 1 - axis.effectiveKernel - axis.outputPadding;
    return need > 0 ? Math.max(1, -floorDiv(-need, axis.stride) + 1) : 1;
  }
  return 1;
}

function transposedLength(axis, n, outputPadding) {
  return (n - 1) * axis.stride - axis.lo - axis.hi + axis.effectiveKernel + outputPadding;
}

function axisLength(axis, n, index) {
  var k = axis.kernel, s = axis.stride, d = axis.dilation, lo = axis.lo, hi = axis.hi;
  var e = d * (k - 1) + 1;
  var where = axisName(index);
  if (axis.kind === "transposed") {
    var o = transposedLength(axis, n, axis.outputPadding);
    if (o < 1) {
      throw new SpecError(
        "padding=(" + lo + ", " + hi + ")" + where + " removes more than the transposed convolution produces for " +
          "input size " + n + " (output size would be " + o + "); the minimum input size is " + minInputSize(axis)
      );
    }
    return o;
  }
  if (n < minInputSize(axis)) {
    throw new SpecError(
      "input size " + n + where + " is too small for kernel_size=" + k + " with dilation=" + d + ", stride=" + s +
        " and padding=(" + lo + ", " + hi + ") (effective kernel " + e + "): the minimum input size is " +
        minInputSize(axis)
    );
  }
  return floorDiv(n + lo + hi - e, s) + 1;
}

function normaliseSize(name, value) {
  if (Array.isArray(value)) {
    if (!value.length) throw new SpecError(name + " must have at least one entry, got ()");
    return [value.map(function (v, i) { return checkInt(name + "[" + i + "]", v, 1); }), true];
  }
  return [[checkInt(name, value, 1)], false];
}

function layerOutputSize(spec, inputSize) {
  var full = spec.forNdim(inputSize.length);
  var sizes = inputSize.map(function (v, i) { return checkInt("input_size[" + i + "]", v, 1); });
  var axes = full.axes(sizes);
  return axes.map(function (a, i) { return axisLength(a, sizes[i], sizes.length > 1 ? i : null); });
}

/** atrous.output_size(input_size, kernel_size, stride, padding, dilation, transposed=, output_padding=). */
function outputSize(inputSize, kernel, stride, padding, dilation, opts) {
  var ns = normaliseSize("input_size", inputSize);
  var spec = new ConvSpec(kernel, stride, padding, dilation, opts);
  var out = layerOutputSize(spec.forNdim(ns[0].length), ns[0]);
  return ns[1] ? out : out[0];
}

function transposedRanges(inputSize, kernel, stride, padding, dilation) {
  var ns = normaliseSize("input_size", inputSize);
  var sizes = ns[0];
  var spec = new ConvSpec(kernel, stride, padding, dilation, { transposed: true }).forNdim(sizes.length);
  var out = spec.axes(sizes).map(function (ax, i) {
    var base = transposedLength(ax, sizes[i], 0);
    var ops;
    if (spec.padding[i] === "same") {
      ops = [ax.outputPadding, ax.outputPadding + 1];
    } else {
      var first = Math.max(0, 1 - base);
      ops = [first, Math.max(first, Math.max(ax.stride, ax.dilation))];
    }
    return { base: base, ops: ops };
  });
  return [out, ns[1]];
}

/** atrous.output_padding_range: [start, stop) per axis (or one pair for an int size). */
function outputPaddingRange(inputSize, kernel, stride, padding, dilation) {
  var r = transposedRanges(inputSize, kernel, stride, padding, dilation);
  var ops = r[0].map(function (x) { return x.ops; });
  return r[1] ? ops : ops[0];
}

/** atrous.valid_output_sizes: [start, stop) per axis (or one pair for an int size). */
function validOutputSizes(inputSize, kernel, stride, padding, dilation) {
  var r = transposedRanges(inputSize, kernel, stride, padding, dilation);
  var out = r[0].map(function (x) { return [x.base + x.ops[0], x.base + x.ops[1]]; });
  return r[1] ? out : out[0];
}

/** output_padding for a wanted output size (atrous.functional's rule and words). */
function solveOutputPadding(kernel, sizes, stride, padding, dilation, target) {
  var nd = kernel.length;
  var base = new ConvSpec(kernel, stride, padding, dilation, { transposed: true, ndim: nd }).resolve(sizes);
  var valid = validOutputSizes(sizes, base.kernel, base.stride, padding, base.dilation);
  var zeroSpec = new ConvSpec(base.kernel, base.stride, base.padding, base.dilation, {
    transposed: true, outputPadding: 0, ndim: nd,
  });
  var zero = layerOutputSize(zeroSpec, sizes);
  target.forEach(function (t, i) {
    var r = valid[i];
    if (!(t >= r[0] && t < r[1])) {
      throw new SpecError(
        "output_size=" + t + " on axis " + i + " is not reachable from input size " + sizes[i] + ": " +
          "the valid output sizes are " + r[0] + " to " + (r[1] - 1)
      );
    }
  });
  return target.map(function (t, i) { return t - zero[i]; });
}

/** Channel counts and groups, with the words of atrous.nn's layers. */
function checkChannels(inChannels, outChannels, groups) {
  checkInt("in_channels", inChannels, 1);
  checkInt("out_channels", outChannels, 1);
  checkInt("groups", groups, 1);
  if (inChannels % groups) throw new SpecError("in_channels=" + inChannels + " must be divisible by groups=" + groups);
  if (outChannels % groups) throw new SpecError("out_channels=" + outChannels + " must be divisible by groups=" + groups);
}

// ------------------------------------------------------------------ field.py

function axisTaps(axis, y) {
  var k = axis.kernel, s = axis.stride, d = axis.dilation, lo = axis.lo;
  var out = [];
  var t;
  if (axis.kind === "transposed") {
    for (t = 0; t < k; t++) {
      var num = y + lo - t * d;
      var q = floorDiv(num, s);
      if (num - q * s === 0) out.push(q);
    }
    return out;
  }
  var base = y * s - lo;
  for (t = 0; t < k; t++) out.push(base + t * d);
  return out;
}

/** One phase's tap set: start (null when empty) and the sorted offsets read. */
function Phase(start, offsets) {
  this.start = start;
  this.offsets = offsets;
}
Object.defineProperty(Phase.prototype, "size", {
  get: function () { return this.offsets.length ? this.offsets[this.offsets.length - 1] + 1 : 0; },
});
Object.defineProperty(Phase.prototype, "taps", { get: function () { return this.offsets.length; } });
Object.defineProperty(Phase.prototype, "holes", {
  get: function () {
    var out = [];
    var j = 0;
    for (var b = 0; b < this.size; b++) {
      if (this.offsets[j] === b) j++;
      else out.push(b);
    }
    return out;
  },
});
Phase.prototype.positions = function () {
  var s = this.start;
  return s === null ? [] : this.offsets.map(function (b) { return s + b; });
};

function union(parts) {
  var present = parts.filter(function (p) { return p[0] !== null && p[1].length; });
  if (!present.length) return new Phase(null, []);
  var base = Math.min.apply(null, present.map(function (p) { return p[0]; }));
  var seen = {};
  present.forEach(function (p) {
    p[1].forEach(function (b) { seen[p[0] - base + b] = true; });
  });
  var offs = Object.keys(seen).map(Number).sort(function (a, b) { return a - b; });
  return new Phase(base, offs);
}

function Field(shift, period, phases, axis, length, parent) {
  this.shift = shift;
  this.period = period;
  this.phases = phases;
  this.axis = axis || null;
  this.length = length === undefined ? null : length;
  this.parent = parent || null;
}

Field.identity = function (length) {
  if (length !== null && length !== undefined) length = checkInt("input_size", length, 1);
  else length = null;
  return new Field(1, 1, [new Phase(0, [0])], null, length, null);
};

Field.prototype.unbounded = function (y) {
  var m = floorDiv(y, this.period);
  var r = y - m * this.period;
  var ph = this.phases[r];
  return [ph.start === null ? null : ph.start + m * this.shift, ph.offsets];
};

Field.prototype.then = function (axis, index) {
  var ab = axisShifts(axis);
  var m = ab[0] / gcd(this.period, ab[0]);
  var shift = this.shift * m;
  var period = ((this.period * m) / ab[0]) * ab[1];
  var phases = [];
  var self = this;
  for (var r = 0; r < period; r++) {
    phases.push(union(axisTaps(axis, r).map(function (x) { return self.unbounded(x); })));
  }
  var length = this.length === null ? null : axisLength(axis, this.length, index);
  return new Field(shift, period, phases, axis, length, this);
};

Object.defineProperty(Field.prototype, "jump", { get: function () { return frac(this.shift, this.period); } });
Object.defineProperty(Field.prototype, "size", {
  get: function () { return Math.max.apply(null, this.phases.map(function (p) { return p.size; })); },
});
Object.defineProperty(Field.prototype, "start", {
  get: function () {
    for (var i = 0; i < this.phases.length; i++) if (this.phases[i].start !== null) return this.phases[i].start;
    throw new SpecError("this field reads no input at all (every phase is empty)");
  },
});
Object.defineProperty(Field.prototype, "centre", {
  get: function () {
    // mean over phases of (2*start + size - 1)/2 - r*shift/period, as one fraction
    var num = 0;
    var count = 0;
    var den = 2 * this.period;
    for (var r = 0; r < this.phases.length; r++) {
      var p = this.phases[r];
      if (p.start === null) continue;
      num += (2 * p.start + p.size - 1) * this.period - 2 * r * this.shift;
      count++;
    }
    if (!count) throw new SpecError("this field reads no input at all (every phase is empty)");
    return frac(num, den * count);
  },
});
Object.defineProperty(Field.prototype, "holes", { get: function () { return this.phases[0].holes; } });
Object.defineProperty(Field.prototype, "hasHoles", {
  get: function () { return this.phases.some(function (p) { return p.holes.length > 0; }); },
});
Object.defineProperty(Field.prototype, "taps", { get: function () { return this.phases[0].taps; } });

Field.prototype.checkIndex = function (y) {
  if (this.length !== null) return checkInt("y", y, 0, this.length - 1);
  return checkInt("y", y, -Math.pow(2, 52));
};

Field.prototype.back = function (positions, counts) {
  var node = this;
  var bounded = this.length !== null;
  while (node.axis !== null && node.parent !== null) {
    var nIn = bounded ? node.parent.length : null;
    var next = new Map();
    positions.forEach(function (c, y) {
      axisTaps(node.axis, y).forEach(function (x) {
        if (nIn !== null && !(x >= 0 && x < nIn)) return;
        next.set(x, counts ? (next.get(x) || 0) + c : 1);
      });
    });
    positions = next;
    node = node.parent;
  }
  return positions;
};

Field.prototype.support = function (y) {
  y = this.checkIndex(y);
  if (this.length === null) {
    var u = this.unbounded(y);
    return u[0] === null ? [] : u[1].map(function (b) { return u[0] + b; });
  }
  return Array.from(this.back(new Map([[y, 1]]), false).keys()).sort(function (a, b) { return a - b; });
};

Field.prototype.paths = function (y) {
  y = this.checkIndex(y);
  var m = this.back(new Map([[y, 1]]), true);
  var keys = Array.from(m.keys()).sort(function (a, b) { return a - b; });
  return keys.map(function (x) { return [x, m.get(x)]; });
};

/** atrous.receptive_field for a 1-d chain (an int input size, or none). */
function receptiveField(specs, inputSize) {
  var sizes = null;
  if (inputSize !== null && inputSize !== undefined) sizes = [checkInt("input_size", inputSize, 1)];
  var field = Field.identity(sizes === null ? null : sizes[0]);
  var out = [];
  specs.forEach(function (spec, li) {
    try {
      var full = spec.forNdim(1);
      var axes = full.axes(sizes);
      field = field.then(axes[0], null);
    } catch (exc) {
      if (exc instanceof SpecError) throw new SpecError("layer " + li + " (" + spec.repr() + "): " + exc.message);
      throw exc;
    }
    if (sizes !== null) sizes = [field.length];
    out.push(field);
  });
  return out;
}

// ------------------------------------------------------------------ the drawn canvas (viz/animate.py)

/** One axis of the drawn input: cells (input, padding, inserted zeros, cropped) and, per output,
 * the cells its taps read (kernel order) with the kernel weight each one multiplies. */
function axisPlan(ax, n, o, field) {
  var conv, length, origin, stop, cats = [], index = [], q;
  if (ax.kind === "conv") {
    conv = ax;
    length = n;
    origin = -ax.lo;
    stop = n + ax.hi;
    for (q = origin; q < stop; q++) {
      var inside = q >= 0 && q < n;
      cats.push(inside ? "input" : "padding");
      index.push(inside ? q : null);
    }
  } else {
    var span = ax.dilation * (ax.kernel - 1);
    var s = ax.stride;
    length = (n - 1) * s + 1;
    var pad = [span - ax.lo, span - ax.hi + ax.outputPadding];
    conv = makeAxis("conv", ax.kernel, 1, ax.dilation, pad[0], pad[1], 0);
    origin = Math.min(-pad[0], 0);
    stop = Math.max(length + pad[1], length);
    for (q = origin; q < stop; q++) {
      if (q < 0 || q >= length) {
        cats.push("padding");
        index.push(null);
      } else if (q < -pad[0] || q >= length + pad[1]) {
        cats.push("cropped");
        index.push(q % s === 0 ? q / s : null);
      } else if (q % s) {
        cats.push("zero");
        index.push(null);
      } else {
        cats.push("input");
        index.push(q / s);
      }
    }
  }
  var got = axisLength(conv, length, null);
  if (got !== o) throw new Error("geometry inconsistency: the drawn convolution has " + got + " outputs, the layer " + o);
  var taps = [], weights = [], reads = [];
  for (var y = 0; y < o; y++) {
    var cells = axisTaps(conv, y).map(function (p) { return p - origin; });
    var read = {};
    cells.forEach(function (g) {
      if (g < 0 || g >= cats.length) throw new Error("geometry inconsistency: a tap outside the canvas");
      if (cats[g] === "input") read[index[g]] = true;
    });
    var r = Object.keys(read).map(Number).sort(function (a, b) { return a - b; });
    var support = field.support(y);
    if (r.join(",") !== support.join(",")) {
      throw new Error("geometry inconsistency: output " + y + " reads " + r + " in the drawing, " + support + " by the field");
    }
    taps.push(cells);
    weights.push(cells.map(function (_, t) { return ax.kind === "conv" ? t : ax.kernel - 1 - t; }));
    reads.push(r);
  }
  return { n: n, o: o, kind: ax.kind, origin: origin, cats: cats, index: index, taps: taps, weights: weights, reads: reads, axis: ax };
}

// ------------------------------------------------------------------ the matrix (reference.conv_matrix)

function ravel(idx, shape) {
  var r = 0;
  for (var i = 0; i < shape.length; i++) r = r * shape[i] + idx[i];
  return r;
}

function product(lists) {
  var out = [[]];
  lists.forEach(function (list) {
    var next = [];
    out.forEach(function (prefix) { list.forEach(function (v) { next.push(prefix.concat([v])); }); });
    out = next;
  });
  return out;
}

function range(n) {
  var out = [];
  for (var i = 0; i < n; i++) out.push(i);
  return out;
}

/** Non-zero entries [row, col, flat weight index] of the convolution matrix A (y = A x), as
 * atrous.reference.conv_matrix builds it (rows: outputs, columns: inputs, row-major). */
function convMatrix(kernel, sizes, stride, pads, dilation) {
  var nd = sizes.length;
  var axes = range(nd).map(function (i) { return makeAxis("conv", kernel[i], stride[i], dilation[i], pads[i][0], pads[i][1]); });
  var out = axes.map(function (a, i) { return axisLength(a, sizes[i], null); });
  var entries = [];
  var taps = product(kernel.map(range));
  product(out.map(range)).forEach(function (oi) {
    var r = ravel(oi, out);
    taps.forEach(function (t) {
      var pos = oi.map(function (y, i) { return y * stride[i] - pads[i][0] + t[i] * dilation[i]; });
      if (pos.every(function (p, i) { return p >= 0 && p < sizes[i]; })) entries.push([r, ravel(pos, sizes), ravel(t, kernel)]);
    });
  });
  return { rows: out.reduce(function (a, b) { return a * b; }, 1), cols: sizes.reduce(function (a, b) { return a * b; }, 1), outShape: out, inShape: sizes, entries: entries };
}

/** The matrix of a transposed convolution (input sizes -> outSizes): the transpose of the
 * convolution matrix on outSizes, keeping the rows of the inputs that exist. */
function transposedMatrix(kernel, sizes, outSizes, stride, pads, dilation) {
  var a = convMatrix(kernel, outSizes, stride, pads, dilation);
  var entries = [];
  a.entries.forEach(function (e) {
    var rem = e[0];
    var idx = [];
    for (var i = a.outShape.length - 1; i >= 0; i--) {
      idx.unshift(rem % a.outShape[i]);
      rem = Math.floor(rem / a.outShape[i]);
    }
    if (idx.every(function (v, i) { return v < sizes[i]; })) entries.push([e[1], ravel(idx, sizes), e[2]]);
  });
  return {
    rows: outSizes.reduce(function (x, y) { return x * y; }, 1),
    cols: sizes.reduce(function (x, y) { return x * y; }, 1),
    outShape: outSizes, inShape: sizes, entries: entries, convRows: a.rows,
  };
}

/* atrous playground: the page's settings, evaluated with the geometry above.
 *
 * A setting (the "state") maps onto Python as documented in atrous/viz/playground.py
 * (spec_arguments): the same ConvSpec, the same input size, the same words when refused.
 */

var LIMITS = {
  n: [1, 32], k: [1, 7], s: [1, 4], d: [1, 6], p: [0, 40], lo: [0, 40], hi: [0, 40],
  ci: [1, 64], co: [1, 64], g: [1, 64], target: [1, 256], sn: [0, 64],
};
var PAD_KINDS = ["p", "lohi", "valid", "same", "causal", "full"];
var MATRIX_LIMIT = 160; // rows and columns drawn at most

function defaultState() {
  return {
    mode: "layer", nd: 1, n: [9, 9], k: 3, s: 1, d: 2, pad: "p", p: 0, lo: 1, hi: 0,
    t: 0, op: 0, solve: 0, target: [9, 9], ci: 1, co: 1, g: 1, f: -1,
    stack: "c3.1.1.p0,c3.1.2.p0,c3.1.4.p0", sn: 32,
  };
}

function copyState(st) {
  var out = {};
  Object.keys(st).forEach(function (k) { out[k] = Array.isArray(st[k]) ? st[k].slice() : st[k]; });
  return out;
}

/** The padding argument of ConvSpec for a state's padding controls. */
function paddingArg(kind, p, lo, hi, nd) {
  if (kind === "p") return p;
  if (kind === "lohi") {
    var out = [];
    for (var i = 0; i < nd; i++) out.push([lo, hi]);
    return out;
  }
  return kind;
}

function inputArg(st) {
  return st.nd === 1 ? st.n[0] : st.n.slice(0, 2);
}

function sizesOf(st) {
  return st.nd === 1 ? [st.n[0]] : st.n.slice(0, 2);
}

/** The spec and input of a single-layer state (throws SpecError with Python's words). */
function layerSpec(st) {
  var nd = st.nd;
  var sizes = normaliseSize("input_size", inputArg(st))[0];
  var pad = paddingArg(st.pad, st.p, st.lo, st.hi, nd);
  var transposed = !!st.t;
  if (transposed && st.solve) {
    var kernel = [], targets = [];
    for (var i = 0; i < nd; i++) {
      kernel.push(st.k);
      targets.push(st.target[i]);
    }
    var ops = solveOutputPadding(kernel, sizes, st.s, pad, st.d, targets);
    var base = new ConvSpec(kernel, st.s, pad, st.d, { transposed: true, ndim: nd }).resolve(sizes);
    return {
      spec: new ConvSpec(base.kernel, base.stride, base.padding, base.dilation, {
        transposed: true, outputPadding: ops, ndim: nd,
      }),
      sizes: sizes, solved: ops,
    };
  }
  var spec = new ConvSpec(st.k, st.s, pad, st.d, { transposed: transposed, outputPadding: transposed ? st.op : 0 });
  return { spec: spec.forNdim(nd), sizes: sizes, solved: null };
}

/** Everything the page draws for one layer; {error} when Python refuses it. */
function evaluateLayer(st, light, noSuggestions) {
  var res = { ok: false, error: null, channelError: null, state: st };
  try {
    checkChannels(st.ci, st.co, st.g);
  } catch (exc) {
    if (!(exc instanceof SpecError)) throw exc;
    res.channelError = exc.message;
  }
  if (st.t && !st.solve) {
    try {
      res.opRange = outputPaddingRange(inputArg(st), st.k, st.s, paddingArg(st.pad, st.p, st.lo, st.hi, st.nd), st.d);
      res.validSizes = validOutputSizes(inputArg(st), st.k, st.s, paddingArg(st.pad, st.p, st.lo, st.hi, st.nd), st.d);
    } catch (exc) {
      if (!(exc instanceof SpecError)) throw exc;
      res.opRange = null;
    }
  }
  if (st.t && st.solve) {
    try {
      res.validSizes = validOutputSizes(inputArg(st), st.k, st.s, paddingArg(st.pad, st.p, st.lo, st.hi, st.nd), st.d);
    } catch (exc) {
      if (!(exc instanceof SpecError)) throw exc;
    }
  }
  try {
    var ls = layerSpec(st);
    var spec = ls.spec;
    var sizes = ls.sizes;
    var out = layerOutputSize(spec, sizes);
    var resolved = spec.resolve(sizes);
    var axes = spec.axes(sizes);
    res.spec = spec;
    res.sizes = sizes;
    res.out = out;
    res.pads = resolved.padding;
    res.outputPadding = resolved.outputPadding;
    res.solved = ls.solved;
    res.axes = axes;
    res.fields = axes.map(function (a, i) { return Field.identity(sizes[i]).then(a, sizes.length > 1 ? i : null); });
    res.unbounded = axes.map(function (a) { return Field.identity(null).then(a, null); });
    res.ok = true;
    if (light) return res;
    res.plans = axes.map(function (a, i) { return axisPlan(a, sizes[i], out[i], res.fields[i]); });
    res.formula = formulaLines(res);
    var cells = function (xs) { return xs.reduce(function (a, b) { return a * b; }, 1); };
    if (cells(sizes) <= MATRIX_LIMIT && cells(out) <= MATRIX_LIMIT) {
      var kernel = axes.map(function (a) { return a.kernel; });
      var strides = axes.map(function (a) { return a.stride; });
      var dils = axes.map(function (a) { return a.dilation; });
      var pads = axes.map(function (a) { return [a.lo, a.hi]; });
      res.matrix = spec.transposed
        ? transposedMatrix(kernel, sizes, out, strides, pads, dils)
        : convMatrix(kernel, sizes, strides, pads, dils);
    }
    res.code = { torch: torchCode(res), atrous: atrousCode(res) };
  } catch (exc) {
    if (!(exc instanceof SpecError)) throw exc;
    res.ok = false;
    res.error = exc.message;
  }
  if (!light && !noSuggestions && (res.error || res.channelError)) res.suggestions = suggest(st);
  return res;
}

// ------------------------------------------------------------------ formula and code

function joinVals(vs) {
  return vs.every(function (v) { return v === vs[0]; }) ? String(vs[0]) : vs.join("x");
}

function formulaLines(res) {
  var lines = [];
  var tr = res.spec.transposed;
  lines.push(tr ? "o = (i-1)*s - lo - hi + d*(k-1) + output_padding + 1" : "o = floor((i + lo + hi - d*(k-1) - 1) / s) + 1");
  var texts = res.axes.map(function (ax, i) {
    var n = res.sizes[i], o = res.out[i];
    if (tr) {
      return "o = (" + n + "-1)*" + ax.stride + " - " + ax.lo + " - " + ax.hi + " + " + ax.dilation + "*(" + ax.kernel +
        "-1) + " + ax.outputPadding + " + 1 = " + o;
    }
    return "o = floor((" + n + " + " + ax.lo + " + " + ax.hi + " - " + ax.dilation + "*(" + ax.kernel + "-1) - 1) / " +
      ax.stride + ") + 1 = " + o;
  });
  var same = texts.every(function (t) { return t === texts[0]; });
  var names = ["rows", "cols"];
  texts.forEach(function (t, i) {
    if (same && i > 0) return;
    lines.push(same || texts.length === 1 ? t : names[i] + ": " + t);
  });
  return lines;
}

function pyTuple(vs) {
  return vs.length === 1 ? String(vs[0]) : "(" + vs.join(", ") + ")";
}

function uniform(vs) {
  return vs.every(function (v) { return v === vs[0]; });
}

function shapeText(c, sizes) {
  return "(1, " + c + ", " + sizes.join(", ") + ")";
}

/** Copyable torch code for the layer (checked against atrous by tests/viz/test_playground_js.py). */
function torchCode(res) {
  var st = res.state, nd = res.sizes.length;
  var tr = res.spec.transposed;
  var cls = (tr ? "nn.ConvTranspose" : "nn.Conv") + nd + "d";
  var pads = res.pads;
  var symmetric = pads.every(function (p) { return p[0] === p[1]; });
  var k = st.k, s = st.s, d = st.d;
  var args = [st.ci, st.co, "kernel_size=" + k, "stride=" + s];
  var lines = ["import torch", "from torch import nn"];
  var call, comment = "";
  var los = pads.map(function (p) { return p[0]; }), his = pads.map(function (p) { return p[1]; });
  var ops = res.outputPadding;
  var padTuple = function (lo, hi) {
    // torch's pad order: last axis first
    var out = [];
    for (var i = nd - 1; i >= 0; i--) out.push(lo[i], hi[i]);
    return "(" + out.join(", ") + ")";
  };
  if (!tr) {
    var body;
    if (st.pad === "same" && s === 1) {
      body = args.concat(['padding="same"', "dilation=" + d]);
    } else if (symmetric) {
      body = args.concat(["padding=" + pyTuple(uniform(los) ? [los[0]] : los), "dilation=" + d]);
    } else {
      body = args.concat(["padding=0", "dilation=" + d]);
    }
    if (st.g !== 1) body.push("groups=" + st.g);
    if (symmetric || (st.pad === "same" && s === 1)) {
      lines.push("", "conv = " + cls + "(" + body.join(", ") + ")");
    } else {
      var padCls = "nn.ZeroPad" + nd + "d";
      lines.push(
        "", "# torch pads both sides alike: pad (lo, hi) = " + pads.map(function (p) { return "(" + p[0] + ", " + p[1] + ")"; }).join(" x ") + " first",
        "conv = nn.Sequential(" + padCls + "(" + padTuple(los, his) + "), " + cls + "(" + body.join(", ") + "))"
      );
    }
    call = "conv(x)";
  } else {
    var tb;
    if (symmetric) {
      tb = args.concat(["padding=" + pyTuple(uniform(los) ? [los[0]] : los), "output_padding=" + pyTuple(uniform(ops) ? [ops[0]] : ops)]);
      if (st.g !== 1) tb.push("groups=" + st.g);
      tb.push("dilation=" + d);
      lines.push("", "tconv = " + cls + "(" + tb.join(", ") + ")");
      call = "tconv(x)";
    } else {
      lines.splice(1, 0, "import torch.nn.functional as F");
      tb = args.slice();
      if (st.g !== 1) tb.push("groups=" + st.g);
      tb.push("dilation=" + d, "bias=False");
      lines.push(
        "", "# torch's transposed layers crop both sides alike: crop (lo, hi) and add output_padding with F.pad",
        "tconv = " + cls + "(" + tb.join(", ") + ")"
      );
      var negLo = los.map(function (v) { return -v; });
      var tail = his.map(function (h, i) { return ops[i] - h; });
      call = "F.pad(tconv(x), " + padTuple(negLo, tail) + ")";
      comment = "  # add a bias after the crop if you need one";
    }
  }
  lines.push("x = torch.randn" + shapeText(st.ci, res.sizes));
  lines.push("y = " + call + "  # " + shapeText(st.co, res.out) + comment);
  return lines.join("\n");
}

function atrousPadding(res) {
  var st = res.state, nd = res.sizes.length;
  if (st.t && st.solve) {
    var pads = res.pads;
    if (pads.every(function (p) { return p[0] === p[1] && p[0] === pads[0][0]; })) return String(pads[0][0]);
    return "(" + pads.map(function (p) { return "(" + p[0] + ", " + p[1] + ")"; }).join(", ") + (nd === 1 ? "," : "") + ")";
  }
  if (st.pad === "p") return String(st.p);
  if (st.pad === "lohi") {
    var one = "(" + st.lo + ", " + st.hi + ")";
    return nd === 1 ? "(" + one + ",)" : "(" + one + ", " + one + ")";
  }
  return '"' + st.pad + '"';
}

function atrousCode(res) {
  var st = res.state, nd = res.sizes.length;
  var tr = res.spec.transposed;
  var cls = (tr ? "ConvTranspose" : "Conv") + nd + "d";
  var pad = atrousPadding(res);
  var args = [st.ci, st.co, st.k, "stride=" + st.s, "padding=" + pad, "dilation=" + st.d];
  var ops = res.outputPadding;
  var opText = pyTuple(uniform(ops) ? [ops[0]] : ops);
  if (tr && st.pad !== "same") args.push("output_padding=" + opText);
  if (st.g !== 1) args.push("groups=" + st.g);
  var size = nd === 1 ? String(res.sizes[0]) : "(" + res.sizes.join(", ") + ")";
  var outText = nd === 1 ? String(res.out[0]) : "(" + res.out.join(", ") + ")";
  var geo = [size, st.k, "stride=" + st.s, "padding=" + pad, "dilation=" + st.d];
  if (tr) geo.push("transposed=True");
  if (tr && st.pad !== "same") geo.push("output_padding=" + opText);
  var lines = [
    "import torch",
    "import atrous",
    "from atrous.nn import " + cls,
    "",
    "layer = " + cls + "(" + args.join(", ") + ")",
    "x = torch.randn" + shapeText(st.ci, res.sizes),
    "y = layer(x)  # " + shapeText(st.co, res.out),
    "atrous.output_size(" + geo.join(", ") + ")  # " + outText,
  ];
  if (tr && !st.solve) {
    lines.push("atrous.valid_output_sizes(" + [size, st.k, "stride=" + st.s, "padding=" + pad, "dilation=" + st.d].join(", ") + ")");
  }
  return lines.join("\n");
}

// ------------------------------------------------------------------ nearest valid values

function suggest(st) {
  var found = [];
  var tryState = function (label, change) {
    var cand = copyState(st);
    change(cand);
    var r = evaluateLayer(cand, true);
    return r.ok && !r.channelError ? { label: label, state: cand } : null;
  };
  var scan = function (name, lim, current, apply, label) {
    for (var dist = 1; dist <= lim[1] - lim[0]; dist++) {
      var cands = [current - dist, current + dist];
      for (var j = 0; j < 2; j++) {
        var v = cands[j];
        if (v < lim[0] || v > lim[1]) continue;
        var got = tryState(label(v), function (c) { apply(c, v); });
        if (got) return got;
      }
    }
    return null;
  };
  var add = function (x) {
    if (x && found.length < 5 && !found.some(function (f) { return f.label === x.label; })) found.push(x);
  };
  var layerBroken = (function () {
    var r = evaluateLayer(st, true);
    return !r.ok;
  })();
  if (layerBroken) {
    if (st.t && st.solve) {
      var vs = null;
      try {
        vs = validOutputSizes(inputArg(st), st.k, st.s, paddingArg(st.pad, st.p, st.lo, st.hi, st.nd), st.d);
      } catch (exc) {
        if (!(exc instanceof SpecError)) throw exc;
      }
      if (vs) {
        var per = st.nd === 1 ? [vs] : vs;
        add(tryState("output size " + per.map(function (r, i) {
          return Math.min(Math.max(st.target[i], r[0]), r[1] - 1);
        }).join(" x "), function (c) {
          per.forEach(function (r, i) { c.target[i] = Math.min(Math.max(c.target[i], r[0]), r[1] - 1); });
        }));
      }
    }
    for (var i = 0; i < st.nd; i++) {
      (function (i) {
        add(scan("n", LIMITS.n, st.n[i], function (c, v) { c.n[i] = v; }, function (v) {
          return (st.nd === 1 ? "input size " : (i === 0 ? "rows " : "cols ")) + v;
        }));
      })(i);
    }
    if (st.t && !st.solve) {
      add(scan("op", [0, 6], st.op, function (c, v) { c.op = v; }, function (v) { return "output_padding " + v; }));
    }
    add(scan("k", LIMITS.k, st.k, function (c, v) { c.k = v; }, function (v) { return "kernel " + v; }));
    add(scan("d", LIMITS.d, st.d, function (c, v) { c.d = v; }, function (v) { return "dilation " + v; }));
    add(scan("s", LIMITS.s, st.s, function (c, v) { c.s = v; }, function (v) { return "stride " + v; }));
    if (st.pad === "p") add(scan("p", LIMITS.p, st.p, function (c, v) { c.p = v; }, function (v) { return "padding " + v; }));
    if (st.pad === "lohi") {
      add(scan("lo", LIMITS.lo, st.lo, function (c, v) { c.lo = v; }, function (v) { return "padding lo " + v; }));
      add(scan("hi", LIMITS.hi, st.hi, function (c, v) { c.hi = v; }, function (v) { return "padding hi " + v; }));
    }
    ["same", "full"].forEach(function (m) {
      if (st.pad !== m) add(tryState("padding '" + m + "'", function (c) { c.pad = m; c.op = 0; }));
    });
  } else {
    // only the channels are wrong: the nearest groups that divide both counts, or channel counts
    add(scan("g", LIMITS.g, st.g, function (c, v) { c.g = v; }, function (v) { return "groups " + v; }));
    add(scan("ci", LIMITS.ci, st.ci, function (c, v) { c.ci = v; }, function (v) { return "in channels " + v; }));
    add(scan("co", LIMITS.co, st.co, function (c, v) { c.co = v; }, function (v) { return "out channels " + v; }));
  }
  return found;
}

// ------------------------------------------------------------------ stacks

/** A stack layer token: kind (c: conv, t: transposed), k, s, d, padding (p<int>, l<lo>-<hi>,
 * valid, same, causal, full) and, for a transposed layer, output padding: "t3.2.1.p1.1". */
function parseLayer(token) {
  var parts = String(token).split(".");
  var num = function (x, dflt) {
    var v = parseInt(x, 10);
    return Number.isFinite(v) ? v : dflt;
  };
  var padTok = parts[4] || "p0";
  var pad;
  if (padTok.charAt(0) === "p") pad = { kind: "p", p: num(padTok.slice(1), 0) };
  else if (padTok.charAt(0) === "l") {
    var lh = padTok.slice(1).split("-");
    pad = { kind: "lohi", lo: num(lh[0], 0), hi: num(lh[1], 0) };
  } else pad = { kind: MODES.indexOf(padTok) >= 0 ? padTok : "valid" };
  return {
    t: parts[0].charAt(0) === "t" ? 1 : 0,
    k: num(parts[1], 3), s: num(parts[2], 1), d: num(parts[3], 1), pad: pad, op: num(parts[5], 0),
  };
}

function layerToken(l) {
  var p = l.pad.kind === "p" ? "p" + l.pad.p : l.pad.kind === "lohi" ? "l" + l.pad.lo + "-" + l.pad.hi : l.pad.kind;
  return (l.t ? "t" : "c") + l.k + "." + l.s + "." + l.d + "." + p + (l.t ? "." + l.op : "");
}

function parseStack(text) {
  var parts = String(text || "").split(",").filter(function (x) { return x.length; });
  return parts.map(function (t) {
    // accept "c3.1.2.p0" (kind and kernel together) as well as "c.3.1.2.p0"
    var m = /^([ct])(\d+)\.(.*)$/.exec(t);
    return parseLayer(m ? m[1] + "." + m[2] + "." + m[3] : t);
  });
}

function stackToText(layers) {
  return layers.map(layerToken).join(",");
}

function layerSpecOf(l) {
  var pad = l.pad.kind === "p" ? l.pad.p : l.pad.kind === "lohi" ? [[l.pad.lo, l.pad.hi]] : l.pad.kind;
  return new ConvSpec(l.k, l.s, pad, l.d, { transposed: !!l.t, outputPadding: l.t ? l.op : 0 });
}

/** Receptive fields of a 1-d stack: per layer, and the top output's exact supports. */
function evaluateStack(layers, inputSize) {
  var res = { ok: false, error: null, errorLayer: null, layers: layers };
  var specs = [];
  try {
    layers.forEach(function (l, i) {
      res.errorLayer = i;
      specs.push(layerSpecOf(l));
    });
    res.errorLayer = null;
    if (!specs.length) throw new SpecError("the stack has no layers: add one");
    var fields = receptiveField(specs, inputSize || null);
    res.specs = specs;
    res.fields = fields;
    res.inputSize = inputSize || null;
    res.ok = true;
  } catch (exc) {
    if (!(exc instanceof SpecError)) throw exc;
    res.error = exc.message;
    var m = /^layer (\d+) /.exec(exc.message);
    if (m) res.errorLayer = parseInt(m[1], 10);
  }
  return res;
}

/** Positions each layer contributes to output y of the top layer (bottom row: the input). */
function stackTree(fields, inputSize, y) {
  var rows = [new Map([[y, 1]])];
  for (var li = fields.length - 1; li >= 0; li--) {
    var f = fields[li];
    var nIn = li > 0 ? fields[li - 1].length : inputSize;
    var next = new Map();
    rows[0].forEach(function (c, p) {
      axisTaps(f.axis, p).forEach(function (x) {
        if (nIn !== null && !(x >= 0 && x < nIn)) return;
        next.set(x, (next.get(x) || 0) + c);
      });
    });
    rows.unshift(next);
  }
  return rows; // rows[0]: input positions (path counts), rows[L]: {y}
}

// ------------------------------------------------------------------ settings in the URL fragment

var STATE_KEYS = ["mode", "nd", "n", "k", "s", "d", "pad", "p", "lo", "hi", "t", "op", "solve", "target", "ci", "co", "g", "f", "stack", "sn"];

function encodeState(st) {
  var dflt = defaultState();
  return STATE_KEYS.filter(function (k) {
    return String(st[k]) !== String(dflt[k]) || k === "mode";
  }).map(function (k) {
    var v = Array.isArray(st[k]) ? st[k].join("x") : st[k];
    return k + "=" + encodeURIComponent(String(v));
  }).join("&");
}

function clampInt(text, lim, dflt) {
  var v = parseInt(text, 10);
  if (!Number.isFinite(v)) return dflt;
  return Math.min(lim[1], Math.max(lim[0], v));
}

/** Settings from a fragment such as "playground?k=3&d=2" (unknown keys are ignored, numbers are
 * kept inside the controls' ranges; the geometry still judges the combination). */
function decodeState(text) {
  var st = defaultState();
  var q = String(text || "").replace(/^#/, "");
  var at = q.indexOf("?");
  if (at >= 0) q = q.slice(at + 1);
  else if (q.indexOf("=") < 0) return st;
  q.split("&").forEach(function (kv) {
    var eq = kv.indexOf("=");
    if (eq < 0) return;
    var key = kv.slice(0, eq);
    var val = decodeURIComponent(kv.slice(eq + 1));
    if (key === "mode") { if (["layer", "stack", "versus"].indexOf(val) >= 0) st.mode = val; }
    else if (key === "nd") st.nd = val === "2" ? 2 : 1;
    else if (key === "pad") { if (PAD_KINDS.indexOf(val) >= 0) st.pad = val; }
    else if (key === "stack") st.stack = stackToText(parseStack(val));
    else if (key === "n" || key === "target") {
      var parts = val.split("x");
      var lim = LIMITS[key];
      st[key] = [clampInt(parts[0], lim, st[key][0]), clampInt(parts.length > 1 ? parts[1] : parts[0], lim, st[key][1])];
    } else if (key === "t" || key === "solve") st[key] = val === "1" ? 1 : 0;
    else if (key === "op") st.op = clampInt(val, [0, 6], 0);
    else if (key in LIMITS) st[key] = clampInt(val, LIMITS[key], st[key]);
    else if (key === "f") st.f = clampInt(val, [-1, 1 << 20], -1);
  });
  return st;
}

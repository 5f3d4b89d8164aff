/* atrous playground: the page (DOM and SVG; mouse, touch and keyboard). */

var SVGNS = "http://www.w3.org/2000/svg";
var TAP_COLOURS = ["#0072b2", "#d55e00", "#7b3294", "#1b7837", "#c51b7d", "#8c510a", "#404040"];

function weightColour(w, count) {
  if (count <= TAP_COLOURS.length) return TAP_COLOURS[w];
  var hue = Math.round((w * 360) / count + 210) % 360;
  var light = w % 2 ? 38 : 48;
  return "hsl(" + hue + ", 70%, " + light + "%)";
}

function el(tag, attrs, parent, text) {
  var e = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] === null || attrs[k] === undefined || attrs[k] === false) return;
      if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    });
  }
  if (text !== undefined && text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function sv(tag, attrs, parent, text) {
  var e = document.createElementNS(SVGNS, tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    });
  }
  if (text !== undefined && text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function copyText(text, button) {
  var done = function () {
    var old = button.textContent;
    button.textContent = "copied";
    setTimeout(function () { button.textContent = old; }, 1200);
  };
  var fallback = function () {
    var ta = el("textarea", { style: "position:fixed;left:-9999px" }, document.body);
    ta.value = text;
    ta.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing to do */ }
    document.body.removeChild(ta);
    done();
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
  else fallback();
}

var CATEGORY_TEXT = {
  input: "input", padding: "padding (reads 0)", zero: "inserted zero", cropped: "cropped by the padding",
};

// ------------------------------------------------------------------ the drawing of one layer

/** Draws one evaluated layer (res.ok) into `host`; returns a controller with
 * show(outputIndex), showInput(inputIndex), clearHover(). */
function LayerStage(host, res, opts) {
  opts = opts || {};
  this.host = host;
  this.res = res;
  this.nd = res.sizes.length;
  this.onPick = opts.onPick || function () {};
  this.readout = opts.readout || null;
  this.opts = opts;
  this.build();
}

LayerStage.prototype.build = function () {
  var res = this.res, host = this.host, self = this, opts = this.opts;
  clear(host);
  var plans = res.plans;
  this.kernelCount = res.axes.reduce(function (a, ax) { return a * ax.kernel; }, 1);
  var width = Math.max(240, (host.clientWidth || 600) - 8);
  var svg;
  if (this.nd === 1) {
    var p = plans[0];
    var len = p.cats.length;
    var c = opts.cell || Math.max(12, Math.min(34, Math.floor((width - 70) / len)));
    this.c = c;
    var left = 64;
    var top = 26;
    var gap = Math.max(70, c * 2.4);
    var w = left + len * c + 12;
    var h = top + c + gap + c + 30;
    svg = sv("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, class: "apg-svg", role: "img" }, host);
    sv("title", null, svg, "input cells above, output cells below");
    var inLabel = p.kind !== "transposed" ? "input"
      : p.axis.stride > 1 ? "input, " + (p.axis.stride - 1) + " zero" + (p.axis.stride === 2 ? "" : "s") + " between cells"
      : "input, padded for the transpose";
    sv("text", { x: 2, y: top - 10, class: "apg-rowlabel" }, svg, inLabel);
    sv("text", { x: 2, y: top + c + gap - 10, class: "apg-rowlabel" }, svg, "output");
    this.lines = sv("g", { class: "apg-lines" }, svg);
    this.inCells = [];
    this.inByIndex = {};
    for (var g = 0; g < len; g++) {
      var cat = p.cats[g];
      var x = left + g * c;
      var r = sv("rect", {
        x: x + 1, y: top, width: c - 2, height: c - 2, class: "apg-cell apg-" + cat,
        "data-kind": "in", "data-g": g, "data-x": p.index[g] === null ? null : p.index[g], "data-cat": cat,
      }, svg);
      this.inCells.push({ x: x, y: top, rect: r });
      if (p.index[g] !== null && cat === "input") this.inByIndex[String(p.index[g])] = g;
      if (cat === "zero") sv("text", { x: x + c / 2, y: top + c / 2 + 4, class: "apg-zero-text" }, svg, "0");
      if (cat === "input" && (c >= 16 || p.index[g] % 5 === 0)) {
        sv("text", { x: x + c / 2, y: top + c + 11, class: "apg-index" }, svg, String(p.index[g]));
      }
    }
    this.outCells = [];
    var oy = top + c + gap;
    for (var y = 0; y < p.o; y++) {
      // each output sits under the centre of the cells its taps read
      var ox = left + ((p.taps[y][0] + p.taps[y][p.taps[y].length - 1]) / 2) * c;
      var orect = sv("rect", {
        x: ox + 1, y: oy, width: c - 2, height: c - 2, class: "apg-cell apg-output", "data-kind": "out", "data-y": y,
      }, svg);
      this.outCells.push({ x: ox, y: oy, rect: orect });
      if (c >= 16 || y % 5 === 0) sv("text", { x: ox + c / 2, y: oy + c + 11, class: "apg-index" }, svg, String(y));
    }
    this.overlay = sv("g", { class: "apg-overlay" }, svg);
  } else {
    var py = plans[0], px = plans[1];
    var H = py.cats.length, W = px.cats.length;
    var avail = width - 30;
    var c2 = Math.max(6, Math.min(26, Math.floor(avail / (W + px.o + 3))));
    var stacked = false;
    if (c2 < 12 && Math.floor(avail / Math.max(W, px.o)) > c2) {
      stacked = true;
      c2 = Math.max(6, Math.min(26, Math.floor(avail / Math.max(W, px.o))));
    }
    this.c = c2;
    var top2 = 22;
    var inW = W * c2, inH = H * c2;
    var inLabel2 = py.kind === "transposed"
      ? (py.axis.stride > 1 ? "input, zeros inserted (stride " + py.axis.stride + ")" : "input, padded for the transpose")
      : "input " + res.sizes.join("x");
    var labelW = inLabel2.length * 7.2 + 12;
    var outX = stacked ? 0 : Math.max(inW + 3 * c2, labelW);
    var outY = stacked ? top2 + inH + 34 : top2;
    var tw = Math.max(outX + Math.max(px.o * c2, 80), inW) + 8;
    var th = Math.max(outY + py.o * c2, top2 + inH) + 24;
    svg = sv("svg", { width: tw, height: th, viewBox: "0 0 " + tw + " " + th, class: "apg-svg", role: "img" }, host);
    sv("title", null, svg, "input grid and output grid");
    sv("text", { x: 0, y: top2 - 8, class: "apg-rowlabel" }, svg, inLabel2);
    sv("text", { x: outX, y: outY - 8, class: "apg-rowlabel" }, svg, "output " + res.out.join("x"));
    // thousands of cells: one markup string per grid is parsed once (much faster than one
    // createElementNS per cell)
    this.inCells = [];
    this.inByIndex = {};
    var parts = [];
    for (var gy = 0; gy < H; gy++) {
      for (var gx = 0; gx < W; gx++) {
        var cat2 = categoryOf(py.cats[gy], px.cats[gx]);
        var ix = py.index[gy] !== null && px.index[gx] !== null && cat2 === "input" ? py.index[gy] + "," + px.index[gx] : null;
        var cx0 = gx * c2, cy0 = top2 + gy * c2;
        parts.push('<rect x="' + (cx0 + 0.5) + '" y="' + (cy0 + 0.5) + '" width="' + (c2 - 1) + '" height="' + (c2 - 1) +
          '" class="apg-cell apg-' + cat2 + '" data-kind="in" data-g="' + gy + "," + gx + '"' +
          (ix === null ? "" : ' data-x="' + ix + '"') + ' data-cat="' + cat2 + '"/>');
        this.inCells.push({ x: cx0, y: cy0 });
        if (ix !== null) this.inByIndex[ix] = this.inCells.length - 1;
      }
    }
    sv("g", { class: "apg-incells" }, svg).innerHTML = parts.join("");
    this.W = W;
    this.outCells = [];
    parts = [];
    for (var yy = 0; yy < py.o; yy++) {
      for (var yx = 0; yx < px.o; yx++) {
        var ox2 = outX + yx * c2, oy2 = outY + yy * c2;
        parts.push('<rect x="' + (ox2 + 0.5) + '" y="' + (oy2 + 0.5) + '" width="' + (c2 - 1) + '" height="' + (c2 - 1) +
          '" class="apg-cell apg-output" data-kind="out" data-y="' + yy + "," + yx + '"/>');
        this.outCells.push({ x: ox2, y: oy2 });
      }
    }
    sv("g", { class: "apg-outcells" }, svg).innerHTML = parts.join("");
    this.overlay = sv("g", { class: "apg-overlay" }, svg);
  }
  this.svg = svg;
  var pick = function (e, sticky) {
    var t = e.target;
    if (e.pointerType === "touch" || e.pointerType === "pen") {
      var hit = document.elementFromPoint(e.clientX, e.clientY);
      if (hit) t = hit;
    }
    if (!t || !t.getAttribute) return;
    var kind = t.getAttribute("data-kind");
    if (kind === "out") self.onPick({ kind: "out", index: self.parseIndex(t.getAttribute("data-y")), sticky: sticky });
    else if (kind === "in" && t.getAttribute("data-x") !== null) {
      self.onPick({ kind: "in", index: self.parseIndex(t.getAttribute("data-x")), sticky: sticky });
    }
  };
  svg.addEventListener("pointermove", function (e) { if (e.pointerType === "mouse") pick(e, false); });
  svg.addEventListener("pointerdown", function (e) { pick(e, true); });
  svg.addEventListener("pointerleave", function (e) {
    if (e.pointerType === "mouse") self.onPick({ kind: "leave" });
  });
};

function categoryOf(a, b) {
  var names = ["padding", "cropped", "zero"];
  for (var i = 0; i < names.length; i++) if (a === names[i] || b === names[i]) return names[i];
  return "input";
}

LayerStage.prototype.parseIndex = function (text) {
  return String(text).split(",").map(Number);
};

LayerStage.prototype.flatOut = function (idx) {
  return this.nd === 1 ? idx[0] : idx[0] * this.res.out[1] + idx[1];
};

LayerStage.prototype.clearOverlay = function () {
  clear(this.overlay);
  if (this.lines) clear(this.lines);
};

/** The taps of output idx: per tap its canvas cell, category, input index and weight. */
LayerStage.prototype.tapsOf = function (idx) {
  var plans = this.res.plans;
  var per = plans.map(function (p, a) {
    var y = idx[a];
    return p.taps[y].map(function (g, t) { return { g: g, w: p.weights[y][t], cat: p.cats[g], x: p.index[g] }; });
  });
  if (this.nd === 1) return per[0].map(function (q) { return { cell: q.g, cat: q.cat, x: q.cat === "input" ? [q.x] : null, w: q.w }; });
  var kx = this.res.axes[1].kernel;
  var out = [];
  var self = this;
  per[0].forEach(function (a) {
    per[1].forEach(function (b) {
      var cat = categoryOf(a.cat, b.cat);
      out.push({ cell: a.g * self.W + b.g, cat: cat, x: cat === "input" ? [a.x, b.x] : null, w: a.w * kx + b.w });
    });
  });
  return out;
};

LayerStage.prototype.show = function (idx) {
  var self = this, c = this.c;
  this.clearOverlay();
  var oc = this.outCells[this.flatOut(idx)];
  var taps = this.tapsOf(idx);
  var onPad = 0, onZero = 0;
  taps.forEach(function (q) {
    var cell = self.inCells[q.cell];
    var colour = weightColour(q.w, self.kernelCount);
    var attrs = {
      x: cell.x + 1, y: cell.y + 1, width: c - 2, height: c - 2, "data-role": "tap", "data-w": q.w, "data-cat": q.cat,
      "data-x": q.x ? q.x.join(",") : null, class: "apg-tap apg-tap-" + q.cat,
    };
    if (q.cat === "input") {
      attrs.fill = colour;
    } else {
      attrs.fill = "none";
      attrs.stroke = colour;
      attrs["stroke-width"] = Math.max(2, Math.min(4, c / 7));
      if (q.cat === "padding" || q.cat === "cropped") onPad++;
      else onZero++;
    }
    sv("rect", attrs, self.overlay);
    if (q.cat === "padding") {
      sv("path", {
        d: "M" + (cell.x + 4) + " " + (cell.y + 4) + "L" + (cell.x + c - 4) + " " + (cell.y + c - 4) + "M" + (cell.x + c - 4) +
          " " + (cell.y + 4) + "L" + (cell.x + 4) + " " + (cell.y + c - 4),
        stroke: colour, "stroke-width": 1.6, class: "apg-padmark",
      }, self.overlay);
    }
    if (c >= 18) {
      var label = self.nd === 1 ? "w" + q.w : "w" + Math.floor(q.w / self.res.axes[1].kernel) + "," + (q.w % self.res.axes[1].kernel);
      if (self.nd === 1 || c >= 24) {
        sv("text", {
          x: cell.x + c / 2, y: cell.y + c / 2 + 4, class: q.cat === "input" ? "apg-wlabel" : "apg-wlabel-dark",
          fill: q.cat === "input" ? null : colour,
        }, self.overlay, q.cat === "zero" ? "0" : label);
      }
    }
    if (self.lines) {
      sv("line", {
        x1: cell.x + c / 2, y1: cell.y + c, x2: oc.x + c / 2, y2: oc.y, stroke: colour,
        "stroke-width": q.cat === "input" ? 1.6 : 1, "stroke-dasharray": q.cat === "input" ? null : "3 3",
      }, self.lines);
    }
  });
  sv("rect", {
    x: oc.x + 0.5, y: oc.y + 0.5, width: c - 1, height: c - 1, class: "apg-current", "data-role": "current",
    "data-y": idx.join(","),
  }, this.overlay);
  var support = this.res.plans.map(function (p, a) { return p.reads[idx[a]]; });
  if (this.readout) {
    var where = idx.length === 1 ? "output " + idx[0] : "output (" + idx.join(", ") + ")";
    var readText = support.map(function (s) { return s.length ? s.join(", ") : "nothing"; });
    var reads = this.nd === 1 ? "inputs " + readText[0] : "rows " + readText[0] + " x cols " + readText[1];
    var real = taps.length - onPad - onZero;
    this.readout.textContent = where + " reads " + reads + ": " + real + " of its " + taps.length + " taps read the input" +
      (onPad ? ", " + onPad + " read padding" : "") + (onZero ? ", " + onZero + " read inserted zeros" : "") + ".";
  }
  return taps;
};

/** Every output that reads input idx. */
LayerStage.prototype.showInput = function (idx) {
  var self = this, c = this.c;
  this.clearOverlay();
  var readers = [];
  var plans = this.res.plans;
  var perAxis = plans.map(function (p, a) {
    var ys = [];
    p.reads.forEach(function (r, y) { if (r.indexOf(idx[a]) >= 0) ys.push(y); });
    return ys;
  });
  if (this.nd === 1) readers = perAxis[0].map(function (y) { return [y]; });
  else perAxis[0].forEach(function (a) { perAxis[1].forEach(function (b) { readers.push([a, b]); }); });
  var at = this.inByIndex[idx.join(",")];
  var inCell = at === undefined ? null : this.inCells[at];
  readers.forEach(function (y) {
    var oc = self.outCells[self.flatOut(y)];
    sv("rect", {
      x: oc.x + 0.5, y: oc.y + 0.5, width: c - 1, height: c - 1, class: "apg-reader", "data-role": "reader",
      "data-y": y.join(","),
    }, self.overlay);
    if (self.lines && inCell) {
      sv("line", { x1: inCell.x + c / 2, y1: inCell.y + c, x2: oc.x + c / 2, y2: oc.y, class: "apg-readline" }, self.lines);
    }
  });
  if (inCell) {
    sv("rect", {
      x: inCell.x + 0.5, y: inCell.y + 0.5, width: c - 1, height: c - 1, class: "apg-current", "data-role": "hovered-input",
      "data-x": idx.join(","),
    }, this.overlay);
  }
  if (this.readout) {
    var where = idx.length === 1 ? "input " + idx[0] : "input (" + idx.join(", ") + ")";
    this.readout.textContent = where + " is read by " + readers.length + " output" + (readers.length === 1 ? "" : "s") +
      (readers.length ? ": " + readers.map(function (y) { return y.length === 1 ? y[0] : "(" + y.join(", ") + ")"; }).join(", ") : "") + ".";
  }
  return readers;
};

// ------------------------------------------------------------------ the matrix view

function MatrixView(host, res) {
  this.host = host;
  this.res = res;
  this.build();
}

MatrixView.prototype.build = function () {
  var res = this.res, host = this.host;
  clear(host);
  var m = res.matrix;
  if (!m) {
    el("p", { class: "apg-note" }, host,
      "The matrix view draws up to " + MATRIX_LIMIT + " inputs and " + MATRIX_LIMIT + " outputs: make the input smaller to see it.");
    this.svg = null;
    return;
  }
  var width = Math.max(220, (host.clientWidth || 600) - 10);
  var c = Math.max(3, Math.min(18, Math.floor((width - 40) / m.cols), Math.floor(520 / m.rows)));
  this.c = c;
  var left = 34, top = 16;
  var w = left + m.cols * c + 6, h = top + m.rows * c + 6;
  var svg = sv("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, class: "apg-svg apg-matrix-svg", role: "img" }, host);
  sv("title", null, svg, "the layer as a matrix: rows are outputs, columns are inputs");
  sv("rect", { x: left, y: top, width: m.cols * c, height: m.rows * c, class: "apg-mbg" }, svg);
  sv("text", { x: left, y: top - 5, class: "apg-label" }, svg, "inputs (columns) \u2192");
  sv("text", { x: 2, y: top + 10, class: "apg-label" }, svg, "out");
  this.bands = sv("g", null, svg);
  var kc = res.axes.reduce(function (a, ax) { return a * ax.kernel; }, 1);
  var g = sv("g", null, svg);
  m.entries.forEach(function (e) {
    sv("rect", {
      x: left + e[1] * c + 0.5, y: top + e[0] * c + 0.5, width: c - 1, height: c - 1, fill: weightColour(e[2], kc),
      "data-role": "entry", "data-r": e[0], "data-c": e[1], "data-w": e[2],
    }, g);
  });
  if (c >= 8) {
    for (var r = 0; r < m.rows; r += m.rows > 20 ? 5 : 1) {
      sv("text", { x: left - 3, y: top + r * c + c - 1, class: "apg-label apg-end" }, svg, String(r));
    }
  }
  this.left = left;
  this.top = top;
  this.svg = svg;
  var caption = el("p", { class: "apg-note" }, host);
  var ax = res.axes[0];
  var twoD = res.axes.length === 2 ? " In 2-D the rows and columns are the positions in row-major order: every kernel row is a band of " +
    "diagonals, and the bands repeat one block per row of the image (a block-Toeplitz matrix)." : "";
  if (res.spec.transposed) {
    caption.textContent = "The transposed convolution is exactly the transpose of the convolution matrix A of " +
      "Conv(k=" + ax.kernel + ", s=" + ax.stride + ", padding=(" + ax.lo + ", " + ax.hi + "), d=" + ax.dilation + ") on an input of " +
      res.out.join("x") + " (" + m.convRows + " rows" + (m.convRows !== m.cols ? ", of which the first " + m.cols + " are the inputs here" : "") +
      "): this is A\u1d40, " + m.rows + " x " + m.cols + ". Each input column writes a copy of the kernel, " + ax.stride + " rows apart." + twoD;
  } else {
    caption.textContent = "y = A x: one row per output, one column per input (atrous.reference.conv_matrix). The kernel's " +
      ax.kernel + " weights sit on " + ax.kernel + " diagonals " + ax.dilation + " column" + (ax.dilation === 1 ? "" : "s") +
      " apart (the dilation); consecutive rows move " + ax.stride + " column" + (ax.stride === 1 ? "" : "s") +
      " (the stride). Padding is the part of each row that falls off the matrix. Transposed, the same matrix is the transposed convolution." + twoD;
  }
};

MatrixView.prototype.highlight = function (row, col) {
  if (!this.svg) return;
  clear(this.bands);
  var m = this.res.matrix, c = this.c;
  if (row !== null && row !== undefined) {
    sv("rect", { x: this.left, y: this.top + row * c, width: m.cols * c, height: c, class: "apg-mrow", "data-role": "mrow", "data-row": row }, this.bands);
  }
  if (col !== null && col !== undefined) {
    sv("rect", { x: this.left + col * c, y: this.top, width: c, height: m.rows * c, class: "apg-mrow", "data-role": "mcol", "data-col": col }, this.bands);
  }
};

// ------------------------------------------------------------------ the player

function Player(host, count, onFrame, opts) {
  opts = opts || {};
  this.count = count;
  this.frame = 0;
  this.onFrame = onFrame;
  this.timer = null;
  this.fps = opts.fps || 1.5;
  var self = this;
  clear(host);
  var bar = el("div", { class: "apg-playerbar", role: "group", "aria-label": "step through the outputs" }, host);
  this.first = el("button", { type: "button", class: "apg-btn", title: "first output", "aria-label": "first output", "data-role": "first" }, bar, "|\u25c0");
  this.prev = el("button", { type: "button", class: "apg-btn", title: "previous output", "aria-label": "previous output", "data-role": "prev" }, bar, "\u25c0");
  this.play = el("button", { type: "button", class: "apg-btn apg-play", title: "play / pause", "aria-label": "play", "data-role": "play" }, bar, "\u25b6");
  this.next = el("button", { type: "button", class: "apg-btn", title: "next output", "aria-label": "next output", "data-role": "next" }, bar, "\u25b6|");
  this.slider = el("input", { type: "range", min: 0, max: Math.max(0, count - 1), value: 0, class: "apg-scrub", "aria-label": "output", "data-role": "scrub" }, bar);
  this.label = el("span", { class: "apg-frame" }, bar);
  this.first.addEventListener("click", function () { self.pause(); self.go(0); });
  this.prev.addEventListener("click", function () { self.pause(); self.go(self.frame - 1); });
  this.next.addEventListener("click", function () { self.pause(); self.go(self.frame + 1); });
  this.play.addEventListener("click", function () { if (self.timer) self.pause(); else self.start(); });
  this.slider.addEventListener("input", function () { self.pause(); self.go(parseInt(self.slider.value, 10)); });
}

Player.prototype.go = function (f) {
  if (!this.count) return;
  this.frame = ((f % this.count) + this.count) % this.count;
  this.slider.value = this.frame;
  this.label.textContent = "output " + (this.frame + 1) + " of " + this.count;
  this.onFrame(this.frame);
};

Player.prototype.start = function () {
  var self = this;
  if (this.timer || this.count < 2) return;
  this.timer = setInterval(function () { self.go(self.frame + 1); }, 1000 / this.fps);
  this.play.textContent = "\u275a\u275a";
  this.play.setAttribute("aria-label", "pause");
};

Player.prototype.pause = function () {
  if (this.timer) clearInterval(this.timer);
  this.timer = null;
  this.play.textContent = "\u25b6";
  this.play.setAttribute("aria-label", "play");
};

// ------------------------------------------------------------------ controls

function Control(host, spec, onChange) {
  var wrap = el("label", { class: "apg-ctl" + (spec.wide ? " apg-wide" : "") }, host);
  var head = el("span", { class: "apg-ctl-name" }, wrap, spec.label);
  this.out = spec.type === "range" ? el("output", { class: "apg-ctl-val" }, head) : null;
  var input;
  if (spec.type === "select") {
    input = el("select", { name: spec.name, "data-name": spec.name }, wrap);
    (spec.options || []).forEach(function (o) { el("option", { value: o[0] }, input, o[1]); });
  } else if (spec.type === "checkbox") {
    input = el("input", { type: "checkbox", name: spec.name, "data-name": spec.name }, wrap);
    wrap.className += " apg-check";
    wrap.insertBefore(input, head);
  } else {
    input = el("input", {
      type: spec.type, name: spec.name, "data-name": spec.name, min: spec.min, max: spec.max, step: 1,
      inputmode: spec.type === "number" ? "numeric" : null,
    }, wrap);
  }
  this.wrap = wrap;
  this.input = input;
  this.spec = spec;
  var self = this;
  input.addEventListener(spec.type === "select" || spec.type === "checkbox" ? "change" : "input", function () {
    onChange(spec.name, self.value());
  });
}

Control.prototype.value = function () {
  if (this.spec.type === "checkbox") return this.input.checked ? 1 : 0;
  if (this.spec.type === "select") return this.input.value;
  var v = parseInt(this.input.value, 10);
  return Number.isFinite(v) ? v : NaN;
};

Control.prototype.set = function (v) {
  if (this.spec.type === "checkbox") this.input.checked = !!v;
  else if (document.activeElement !== this.input || this.spec.type !== "number") this.input.value = v;
  if (this.out) this.out.textContent = String(v);
};

Control.prototype.show = function (on) {
  this.wrap.style.display = on ? "" : "none";
};

// ------------------------------------------------------------------ the playground

function Playground(root, opts) {
  opts = opts || {};
  this.root = root;
  this.embedded = !!opts.embedded;
  this.state = opts.state || decodeState(this.embedded ? "" : location.hash);
  if (!opts.state && location.hash.indexOf("playground?") >= 0) this.state = decodeState(location.hash);
  this.sticky = null;
  this.build();
  this.render();
}

Playground.prototype.build = function () {
  var root = this.root, self = this;
  clear(root);
  root.classList.add("apg");
  var tabs = el("div", { class: "apg-tabs", role: "tablist" }, root);
  this.tabs = {};
  [["layer", "One layer"], ["stack", "Stack"], ["versus", "Dilated vs transposed"]].forEach(function (m) {
    var b = el("button", { type: "button", role: "tab", class: "apg-tab", "data-mode": m[0] }, tabs, m[1]);
    b.addEventListener("click", function () { self.set("mode", m[0]); });
    self.tabs[m[0]] = b;
  });
  var share = el("button", { type: "button", class: "apg-btn apg-share", title: "copy a link to these settings" }, tabs, "copy link");
  share.addEventListener("click", function () {
    var url = location.href.split("#")[0] + "#playground?" + encodeState(self.state);
    copyText(url, share);
  });
  var main = el("div", { class: "apg-main" }, root);
  this.main = main;
  this.form = el("form", { class: "apg-controls", autocomplete: "off" }, main);
  this.form.addEventListener("submit", function (e) { e.preventDefault(); });
  this.view = el("div", { class: "apg-view" }, main);
  var on = function (name, value) { self.set(name, value); };
  var C = {};
  var layerBox = el("div", { class: "apg-group", "data-group": "layer" }, this.form);
  this.layerBox = layerBox;
  C.nd = new Control(layerBox, { name: "nd", label: "axes", type: "select", options: [["1", "1-D"], ["2", "2-D"]] }, on);
  C.n0 = new Control(layerBox, { name: "n0", label: "input size", type: "range", min: 1, max: 32 }, on);
  C.n1 = new Control(layerBox, { name: "n1", label: "cols", type: "range", min: 1, max: 32 }, on);
  C.k = new Control(layerBox, { name: "k", label: "kernel k", type: "range", min: 1, max: 7 }, on);
  C.s = new Control(layerBox, { name: "s", label: "stride s", type: "range", min: 1, max: 4 }, on);
  C.d = new Control(layerBox, { name: "d", label: "dilation d", type: "range", min: 1, max: 6 }, on);
  C.pad = new Control(layerBox, {
    name: "pad", label: "padding", type: "select",
    options: [["p", "symmetric p"], ["lohi", "lo : hi"], ["valid", "'valid'"], ["same", "'same'"], ["causal", "'causal'"], ["full", "'full'"]],
  }, on);
  C.p = new Control(layerBox, { name: "p", label: "p", type: "number", min: 0, max: 40 }, on);
  C.lo = new Control(layerBox, { name: "lo", label: "lo", type: "number", min: 0, max: 40 }, on);
  C.hi = new Control(layerBox, { name: "hi", label: "hi", type: "number", min: 0, max: 40 }, on);
  C.t = new Control(layerBox, { name: "t", label: "transposed", type: "checkbox" }, on);
  C.op = new Control(layerBox, { name: "op", label: "output_padding", type: "select", options: [] }, on);
  C.solve = new Control(layerBox, { name: "solve", label: "solve back: pick the output size", type: "checkbox", wide: true }, on);
  C.target0 = new Control(layerBox, { name: "target0", label: "output size", type: "number", min: 1, max: 256 }, on);
  C.target1 = new Control(layerBox, { name: "target1", label: "output cols", type: "number", min: 1, max: 256 }, on);
  C.ci = new Control(layerBox, { name: "ci", label: "in channels", type: "number", min: 1, max: 64 }, on);
  C.co = new Control(layerBox, { name: "co", label: "out channels", type: "number", min: 1, max: 64 }, on);
  C.g = new Control(layerBox, { name: "g", label: "groups", type: "number", min: 1, max: 64 }, on);
  C.dw = new Control(layerBox, { name: "dw", label: "depthwise (groups = in channels)", type: "checkbox", wide: true }, on);
  var stackBox = el("div", { class: "apg-group", "data-group": "stack" }, this.form);
  this.stackBox = stackBox;
  C.sn = new Control(stackBox, { name: "sn", label: "input size (0: unbounded)", type: "range", min: 0, max: 64, wide: true }, on);
  var presets = el("div", { class: "apg-presets" }, stackBox);
  el("span", { class: "apg-ctl-name" }, presets, "presets");
  [
    ["k=3, d = 1, 2, 4", "c3.1.1.p0,c3.1.2.p0,c3.1.4.p0"],
    ["d = 2, 2, 2", "c3.1.2.p0,c3.1.2.p0,c3.1.2.p0"],
    ["d = 1, 2, 5", "c3.1.1.p0,c3.1.2.p0,c3.1.5.p0"],
    ["stride 2 then transposed", "c3.2.1.p1,c3.1.2.p2,t3.2.1.p1.1"],
    ["causal TCN block", "c3.1.1.causal,c3.1.2.causal,c3.1.4.causal"],
  ].forEach(function (p) {
    var b = el("button", { type: "button", class: "apg-btn", "data-preset": p[1] }, presets, p[0]);
    b.addEventListener("click", function () { self.set("stack", p[1]); });
  });
  this.stackRows = el("div", { class: "apg-stackrows" }, stackBox);
  var add = el("button", { type: "button", class: "apg-btn", "data-role": "add-layer" }, stackBox, "+ layer");
  add.addEventListener("click", function () {
    var layers = parseStack(self.state.stack);
    layers.push({ t: 0, k: 3, s: 1, d: 1, pad: { kind: "p", p: 0 }, op: 0 });
    self.set("stack", stackToText(layers));
  });
  this.controls = C;
  this.keys();
};

Playground.prototype.keys = function () {
  var self = this;
  this.view.addEventListener("keydown", function (e) {
    if (!self.player || e.target.tagName === "INPUT" || e.target.tagName === "SELECT" || e.target.tagName === "BUTTON") return;
    var step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    var row = self.layer && self.layer.ok && self.layer.out.length === 2 ? self.layer.out[1] : 1;
    if (e.key === "ArrowDown") step = row;
    if (e.key === "ArrowUp") step = -row;
    if (step) {
      e.preventDefault();
      self.player.pause();
      self.player.go(self.player.frame + step);
    } else if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      if (self.player.timer) self.player.pause();
      else self.player.start();
    } else if (e.key === "Home") {
      self.player.go(0);
    } else if (e.key === "End") {
      self.player.go(self.player.count - 1);
    }
  });
};

Playground.prototype.set = function (name, value) {
  var st = this.state;
  if (name === "n0" || name === "n1") st.n[name === "n0" ? 0 : 1] = value;
  else if (name === "target0" || name === "target1") st.target[name === "target0" ? 0 : 1] = value;
  else if (name === "nd") st.nd = value === "2" || value === 2 ? 2 : 1;
  else if (name === "op") st.op = parseInt(value, 10);
  else if (name === "dw") {
    if (value) {
      st.g = st.ci;
      if (st.co % st.ci) st.co = st.ci;
    } else st.g = 1;
  } else if (name === "ci" && st.g === st.ci && st.g > 1) {
    st.ci = value;
    st.g = value;
    if (st.co % value) st.co = value;
  } else st[name] = value;
  if (name === "t" && value && st.solve === 0) st.target = this.layer && this.layer.ok ? this.layer.sizes.slice().concat([9]).slice(0, 2) : st.target;
  st.f = -1;
  this.sticky = null;
  this.touched = true;
  this.render();
};

Playground.prototype.writeHash = function () {
  // inside another page (the report) the address changes only once the reader changes a setting
  if (this.embedded && !this.touched) return;
  var text = "#playground?" + encodeState(this.state);
  if (location.hash !== text && history.replaceState) history.replaceState(null, "", text);
};

Playground.prototype.syncControls = function () {
  var st = this.state, C = this.controls;
  Object.keys(this.tabs).forEach(function (m) {
    var on = m === st.mode;
    this.tabs[m].classList.toggle("apg-on", on);
    this.tabs[m].setAttribute("aria-selected", on ? "true" : "false");
  }, this);
  this.layerBox.style.display = st.mode === "stack" ? "none" : "";
  this.main.classList.toggle("apg-wide-controls", st.mode === "stack");
  this.stackBox.style.display = st.mode === "stack" ? "" : "none";
  var versus = st.mode === "versus";
  C.nd.set(String(st.nd));
  C.n0.set(st.n[0]);
  C.n1.set(st.n[1]);
  C.n0.wrap.firstChild.firstChild.textContent = st.nd === 2 && !versus ? "rows " : "input size ";
  C.n1.show(st.nd === 2 && !versus);
  C.nd.show(!versus);
  ["k", "s", "d", "p", "lo", "hi", "ci", "co", "g", "sn"].forEach(function (k) { C[k].set(st[k]); });
  C.s.show(!versus);
  C.d.wrap.firstChild.firstChild.textContent = versus ? "factor (d = s) " : "dilation d ";
  C.pad.set(st.pad);
  [C.pad, C.t, C.ci, C.co, C.g, C.dw].forEach(function (c) { c.show(!versus); });
  C.p.show(!versus && st.pad === "p");
  C.lo.show(!versus && st.pad === "lohi");
  C.hi.show(!versus && st.pad === "lohi");
  C.t.set(st.t);
  C.solve.set(st.solve);
  C.solve.show(!versus && !!st.t);
  C.op.show(!versus && !!st.t && !st.solve);
  C.target0.set(st.target[0]);
  C.target1.set(st.target[1]);
  C.target0.show(!versus && !!st.t && !!st.solve);
  C.target1.show(!versus && !!st.t && !!st.solve && st.nd === 2);
  C.target0.wrap.firstChild.textContent = st.nd === 2 ? "output rows" : "output size";
  C.dw.set(st.g > 1 && st.g === st.ci);
};

Playground.prototype.syncOp = function (res) {
  var sel = this.controls.op.input, st = this.state;
  clear(sel);
  var range = res.opRange;
  var per = range ? (st.nd === 1 ? [range] : range) : null;
  var lo = 0, hi = 0;
  if (per) {
    lo = Math.max.apply(null, per.map(function (r) { return r[0]; }));
    hi = Math.min.apply(null, per.map(function (r) { return r[1]; }));
  }
  var any = false;
  for (var v = lo; v < hi; v++) {
    var sizes = res.validSizes ? (st.nd === 1 ? [res.validSizes] : res.validSizes) : null;
    var text = String(v);
    if (sizes) text += "  (output " + sizes.map(function (r, i) { return r[0] + v - per[i][0]; }).join("x") + ")";
    el("option", { value: v }, sel, text);
    any = true;
  }
  if (!(st.op >= lo && st.op < hi)) {
    el("option", { value: st.op }, sel, st.op + " (not valid here)");
  }
  if (!any && per) el("option", { value: "", disabled: true }, sel, "no valid value");
  sel.value = String(st.op);
};

Playground.prototype.render = function () {
  var st = this.state;
  if (this.player) this.player.pause();
  this.player = null;
  this.syncControls();
  clear(this.view);
  if (st.mode === "stack") this.renderStack();
  else if (st.mode === "versus") this.renderVersus();
  else this.renderLayer();
  this.writeHash();
  this.root.setAttribute("data-state", encodeState(st));
};

Playground.prototype.errorBox = function (host, message, suggestions, apply) {
  var box = el("div", { class: "apg-error", role: "alert", "data-role": "error" }, host);
  el("strong", null, box, "Not a valid layer: ");
  el("span", { "data-role": "error-text" }, box, message);
  if (suggestions && suggestions.length) {
    var row = el("div", { class: "apg-suggest" }, box);
    el("span", null, row, "Nearest valid: ");
    suggestions.forEach(function (s) {
      var b = el("button", { type: "button", class: "apg-btn", "data-role": "suggestion" }, row, s.label);
      b.addEventListener("click", function () { apply(s.state); });
    });
  }
  return box;
};

Playground.prototype.renderLayer = function () {
  var self = this, st = this.state;
  var res = evaluateLayer(st);
  this.layer = res;
  if (st.t && !st.solve) this.syncOp(res);
  var view = this.view;
  if (!res.ok || res.channelError) {
    this.errorBox(view, res.error || res.channelError, res.suggestions, function (s) {
      self.state = s;
      self.render();
    });
  }
  if (!res.ok) return;
  var head = el("div", { class: "apg-summary" }, view);
  var ax = res.axes[0];
  var tr = res.spec.transposed;
  var kind = (ax.dilation > 1 ? "dilated " : "") + (tr ? "transposed convolution" : "convolution");
  el("div", { class: "apg-title", "data-role": "title" }, head,
    kind + ": input " + res.sizes.join("x") + " \u2192 output " + res.out.join("x"));
  var padText = res.pads.map(function (p) { return p[0] === p[1] ? String(p[0]) : "(" + p[0] + ", " + p[1] + ")"; });
  padText = padText.every(function (p) { return p === padText[0]; }) ? padText[0] : padText.join(" x ");
  if (MODES.indexOf(st.pad) >= 0) padText = "'" + st.pad + "' = " + padText;
  var parts = ["kernel " + ax.kernel, "stride " + ax.stride, "padding " + padText, "dilation " + ax.dilation];
  if (tr) parts.push("output_padding " + joinVals(res.outputPadding) + (res.solved ? " (solved for output " + res.out.join("x") + ")" : ""));
  el("div", { class: "apg-sub" }, head, parts.join(", "));
  var f = res.unbounded[0];
  var rf = res.unbounded.map(function (u) { return u.size; }).join("x");
  var holes = res.unbounded.map(function (u) { return u.phases.map(function (p) { return p.holes.length; }); });
  var facts = "One output reads a span of " + rf + " input" + (rf === "1" ? "" : "s") + " (effective kernel " +
    res.axes.map(function (a) { return a.effectiveKernel; }).join("x") + ")";
  if (f.period > 1) {
    facts += "; jump " + fracText(f.jump) + ": the " + f.period + " output phases read " +
      f.phases.map(function (p) { return p.taps; }).join(", ") + " input" + " cells per axis";
  }
  var h0 = holes[0][0];
  if (res.unbounded.some(function (u) { return u.hasHoles; })) facts += "; " + h0 + " hole" + (h0 === 1 ? "" : "s") + " per axis inside it (the dilation's gaps)";
  el("div", { class: "apg-sub", "data-role": "facts" }, head, facts + ".");
  el("pre", { class: "apg-formula", "data-role": "formula" }, head, res.formula.join("\n"));
  var stage = el("div", { class: "apg-stage", tabindex: 0, "aria-label": "the layer: arrow keys step through the outputs, space plays" }, view);
  this.legend(view, res);
  var readout = el("div", { class: "apg-readout", "aria-live": "polite", "data-role": "readout" }, view);
  var playerHost = el("div", { class: "apg-player" }, view);
  var details = el("details", { class: "apg-matrix", open: true }, view);
  el("summary", null, details, tr ? "Matrix view: the transposed convolution is A\u1d40" : "Matrix view: the convolution as a matrix A");
  var matrixHost = el("div", null, details);
  var count = res.out.reduce(function (a, b) { return a * b; }, 1);
  var matrix = null;
  var toIdx = function (fr) { return res.out.length === 1 ? [fr] : [Math.floor(fr / res.out[1]), fr % res.out[1]]; };
  var flatIn = function (idx) { return res.sizes.length === 1 ? idx[0] : idx[0] * res.sizes[1] + idx[1]; };
  var stageCtl = new LayerStage(stage, res, {
    readout: readout,
    onPick: function (ev) {
      if (ev.kind === "leave") {
        if (self.sticky) return;
        stageCtl.show(toIdx(self.player.frame));
        if (matrix) matrix.highlight(self.player.frame, null);
        return;
      }
      if (ev.sticky) self.sticky = ev;
      if (ev.kind === "out") {
        var fr = stageCtl.flatOut(ev.index);
        self.player.pause();
        self.player.frame = fr;
        self.player.slider.value = fr;
        self.player.label.textContent = "output " + (fr + 1) + " of " + count;
        stageCtl.show(ev.index);
        if (matrix) matrix.highlight(fr, null);
      } else {
        stageCtl.showInput(ev.index);
        if (matrix) matrix.highlight(null, flatIn(ev.index));
      }
    },
  });
  this.stage = stageCtl;
  matrix = new MatrixView(matrixHost, res);
  this.matrix = matrix;
  this.player = new Player(playerHost, count, function (fr) {
    self.sticky = null;
    stageCtl.show(toIdx(fr));
    matrix.highlight(fr, null);
    self.state.f = fr;
  });
  this.player.go(st.f >= 0 && st.f < count ? st.f : 0);
  this.groups(view, res);
  this.code(view, res);
};

Playground.prototype.legend = function (host, res) {
  var box = el("div", { class: "apg-legend" }, host);
  var kc = res.axes.reduce(function (a, ax) { return a * ax.kernel; }, 1);
  var cats = {};
  res.plans.forEach(function (p) { p.cats.forEach(function (c) { cats[c] = true; }); });
  var item = function (cls, text) {
    var it = el("span", { class: "apg-li" }, box);
    el("span", { class: "apg-swatch " + cls }, it);
    el("span", null, it, text);
  };
  item("apg-input", "input");
  if (cats.padding) item("apg-padding", "padding (zeros outside the input)");
  if (cats.zero) item("apg-zero", "inserted zeros (stride " + res.axes[0].stride + " of the transposed conv)");
  if (cats.cropped) item("apg-cropped", "cropped (padding larger than the kernel span)");
  item("apg-output", "output");
  var ks = el("span", { class: "apg-li apg-kernel" }, box);
  el("span", null, ks, "kernel weights: ");
  var shown = Math.min(kc, 49);
  for (var w = 0; w < shown; w++) {
    el("span", { class: "apg-wchip", style: "background:" + weightColour(w, kc) }, ks,
      res.axes.length === 1 ? "w" + w : "");
  }
  el("span", { class: "apg-li apg-legend-note" }, box,
    "a tap drawn as an outline with \u00d7 reads padding; one drawn on a yellow 0 reads an inserted zero: " +
      "these multiply a weight by zero (gridding and checkerboards come from them).");
};

Playground.prototype.groups = function (host, res) {
  var st = this.state;
  var box = el("div", { class: "apg-groups" }, host);
  var kc = res.axes.reduce(function (a, ax) { return a * ax.kernel; }, 1);
  if (res.channelError) {
    el("p", { class: "apg-note" }, box, "Channels: " + res.channelError + ".");
    return;
  }
  var per = st.ci / st.g;
  var params = st.co * per * kc;
  var txt = "Channels: " + st.ci + " in, " + st.co + " out, groups " + st.g +
    (st.g === st.ci && st.g > 1 ? " (depthwise)" : "") + ": each output channel reads " + per + " input channel" + (per === 1 ? "" : "s") +
    "; " + params + " weights + " + st.co + (st.co === 1 ? " bias (" : " biases (") + (st.ci * st.co * kc) + " weights without groups).";
  el("p", { class: "apg-note", "data-role": "channels" }, box, txt);
  if (st.ci === 1 && st.co === 1) return;
  var ci = Math.min(st.ci, 16), co = Math.min(st.co, 16);
  var c = 9;
  var w = 60 + ci * c, h = 14 + co * c;
  var svg = sv("svg", { width: w, height: h, class: "apg-svg", role: "img" }, box);
  sv("title", null, svg, "which input channels (columns) each output channel (rows) reads");
  sv("text", { x: 0, y: 10, class: "apg-label" }, svg, "out \\ in");
  for (var o = 0; o < co; o++) {
    var gOut = Math.floor(o / (st.co / st.g));
    for (var i = 0; i < ci; i++) {
      var gIn = Math.floor(i / per);
      sv("rect", { x: 56 + i * c, y: 12 + o * c, width: c - 1, height: c - 1, class: gIn === gOut ? "apg-conn" : "apg-noconn" }, svg);
    }
  }
};

Playground.prototype.code = function (host, res) {
  var box = el("div", { class: "apg-code" }, host);
  [["PyTorch", res.code.torch, "torch"], ["atrous", res.code.atrous, "atrous"]].forEach(function (c) {
    var blk = el("div", { class: "apg-codeblk" }, box);
    var bar = el("div", { class: "apg-codebar" }, blk);
    el("span", null, bar, c[0]);
    var btn = el("button", { type: "button", class: "apg-btn" }, bar, "copy");
    var pre = el("pre", { "data-role": "code-" + c[2] }, blk, c[1]);
    btn.addEventListener("click", function () { copyText(pre.textContent, btn); });
  });
};

// ------------------------------------------------------------------ dilated vs transposed

Playground.prototype.renderVersus = function () {
  var st = this.state, view = this.view;
  var n = st.n[0], k = st.k, r = st.d;
  var dil = copyState(st);
  dil.nd = 1; dil.s = 1; dil.pad = "same"; dil.t = 0; dil.op = 0; dil.solve = 0; dil.ci = 1; dil.co = 1; dil.g = 1;
  var tr = copyState(dil);
  tr.d = 1; tr.s = r; tr.t = 1;
  el("p", { class: "apg-explain" }, view,
    "Both seem to up-sample; they do different things. Dilation " + r + " spreads the kernel's " + k + " taps " + r +
      " apart over the input (holes in the kernel): the output keeps the input's size and each output sees a span of " +
      (r * (k - 1) + 1) + ". A stride-" + r + " transposed convolution spreads the input's cells " + r +
      " apart (zeros inserted into the input) and slides an ordinary kernel over them: " + r + " times more outputs, each " +
      "reading few real inputs.");
  var cols = el("div", { class: "apg-versus" }, view);
  var self = this;
  var longest = 0;
  [dil, tr].forEach(function (x) {
    var r0 = evaluateLayer(x, false, true);
    if (r0.ok) longest = Math.max(longest, r0.plans[0].cats.length);
  });
  var colWidth = Math.max(260, Math.min(view.clientWidth || 600, 1400) / (view.clientWidth > 700 ? 2 : 1) - 24);
  var cell = Math.max(10, Math.min(30, Math.floor((colWidth - 70) / Math.max(1, longest))));
  [[dil, "dilated convolution: k=" + k + ", d=" + r + ", padding 'same'"], [tr, "transposed convolution: k=" + k + ", s=" + r + ", padding 'same'"]].forEach(function (pair, i) {
    var col = el("div", { class: "apg-vcol", "data-side": i ? "transposed" : "dilated" }, cols);
    el("h4", null, col, pair[1]);
    var res = evaluateLayer(pair[0]);
    if (!res.ok) {
      self.errorBox(col, res.error, res.suggestions, function (s) { self.state.n = s.n; self.state.k = s.k; self.render(); });
      return;
    }
    el("div", { class: "apg-sub" }, col, "input " + res.sizes[0] + " \u2192 output " + res.out[0] + "; " + res.formula[1]);
    var stage = el("div", { class: "apg-stage", tabindex: 0 }, col);
    var readout = el("div", { class: "apg-readout", "aria-live": "polite" }, col);
    var playerHost = el("div", { class: "apg-player" }, col);
    var player = null;
    var ctl = new LayerStage(stage, res, {
      readout: readout,
      cell: cell,
      onPick: function (ev) {
        if (ev.kind === "leave") { ctl.show([player.frame]); return; }
        if (ev.kind === "out") { player.pause(); player.frame = ev.index[0]; player.slider.value = ev.index[0]; ctl.show(ev.index); }
        else ctl.showInput(ev.index);
      },
    });
    player = new Player(playerHost, res.out[0], function (fr) { ctl.show([fr]); });
    player.go(0);
    if (i === 0) self.player = player;
  });
};

// ------------------------------------------------------------------ stacks

Playground.prototype.stackEditor = function (layers, errorLayer) {
  var self = this, host = this.stackRows;
  clear(host);
  var head = el("div", { class: "apg-srow apg-shead" }, host);
  ["#", "kind", "k", "s", "d", "padding", "", "op", ""].forEach(function (t) { el("span", null, head, t); });
  layers.forEach(function (l, i) {
    var row = el("div", { class: "apg-srow" + (errorLayer === i ? " apg-bad" : ""), "data-layer": i }, host);
    el("span", { class: "apg-index" }, row, String(i));
    var update = function (fn) {
      var ls = parseStack(self.state.stack);
      fn(ls[i]);
      self.set("stack", stackToText(ls));
    };
    var kind = el("select", { "aria-label": "layer " + i + " kind", "data-field": "t" }, row);
    el("option", { value: "0" }, kind, "conv");
    el("option", { value: "1" }, kind, "tconv");
    kind.value = String(l.t);
    kind.addEventListener("change", function () { update(function (x) { x.t = parseInt(kind.value, 10); x.op = 0; }); });
    [["k", 1, 7], ["s", 1, 4], ["d", 1, 6]].forEach(function (f) {
      var inp = el("input", { type: "number", min: f[1], max: f[2], value: l[f[0]], "aria-label": "layer " + i + " " + f[0], "data-field": f[0] }, row);
      inp.addEventListener("change", function () { update(function (x) { x[f[0]] = parseInt(inp.value, 10); }); });
    });
    var pk = el("select", { "aria-label": "layer " + i + " padding", "data-field": "pad" }, row);
    [["p", "p"], ["lohi", "lo:hi"], ["valid", "valid"], ["same", "same"], ["causal", "causal"], ["full", "full"]].forEach(function (o) {
      el("option", { value: o[0] }, pk, o[1]);
    });
    pk.value = l.pad.kind;
    pk.addEventListener("change", function () {
      update(function (x) { x.pad = pk.value === "p" ? { kind: "p", p: 0 } : pk.value === "lohi" ? { kind: "lohi", lo: 0, hi: 0 } : { kind: pk.value }; });
    });
    var pv = el("input", {
      type: "text", value: l.pad.kind === "p" ? l.pad.p : l.pad.kind === "lohi" ? l.pad.lo + ":" + l.pad.hi : "",
      "aria-label": "layer " + i + " padding value", "data-field": "padv", size: 4, disabled: l.pad.kind === "p" || l.pad.kind === "lohi" ? null : true,
    }, row);
    pv.addEventListener("change", function () {
      update(function (x) {
        var parts = pv.value.split(":").map(function (v) { return parseInt(v, 10); });
        if (x.pad.kind === "p") x.pad.p = Number.isFinite(parts[0]) ? parts[0] : 0;
        else x.pad = { kind: "lohi", lo: parts[0] || 0, hi: parts.length > 1 ? parts[1] || 0 : parts[0] || 0 };
      });
    });
    var op = el("input", { type: "number", min: 0, max: 5, value: l.op, "aria-label": "layer " + i + " output padding", "data-field": "op", disabled: l.t ? null : true }, row);
    op.addEventListener("change", function () { update(function (x) { x.op = parseInt(op.value, 10); }); });
    var rm = el("button", { type: "button", class: "apg-btn", "aria-label": "remove layer " + i }, row, "\u00d7");
    rm.addEventListener("click", function () {
      var ls = parseStack(self.state.stack);
      ls.splice(i, 1);
      self.set("stack", stackToText(ls));
    });
  });
};

Playground.prototype.renderStack = function () {
  var self = this, st = this.state, view = this.view;
  var layers = parseStack(st.stack);
  var res = evaluateStack(layers, st.sn || null);
  this.stackRes = res;
  this.stackEditor(layers, res.errorLayer);
  if (!res.ok) {
    var msg = res.error;
    if (res.errorLayer !== null && msg.indexOf("layer ") !== 0) msg = "layer " + res.errorLayer + ": " + msg;
    var sugg = stackSuggestions(layers, st.sn);
    this.errorBox(view, msg, sugg, function (s) { self.state.stack = s.stack; self.state.sn = s.sn; self.render(); });
    this.gridding(view);
    return;
  }
  var table = el("table", { class: "apg-table", "data-role": "stack-table" }, el("div", { class: "apg-scroll" }, view));
  var hr = el("tr", null, el("thead", null, table));
  ["layer", "", "out length", "RF", "jump", "start", "holes", "phases: tap sets (offsets from start)"].forEach(function (h) { el("th", null, hr, h); });
  var tb = el("tbody", null, table);
  res.fields.forEach(function (f, i) {
    var tr = el("tr", { "data-layer": i }, tb);
    el("td", null, tr, String(i));
    el("td", { class: "apg-l" }, tr, describeLayer(layers[i]));
    el("td", null, tr, f.length === null ? "\u2013" : String(f.length));
    el("td", { "data-role": "rf" }, tr, String(f.size));
    el("td", { "data-role": "jump" }, tr, fracText(f.jump));
    var start;
    try { start = String(f.start); } catch (e) { start = "none"; }
    el("td", null, tr, start);
    el("td", { "data-role": "holes" }, tr, f.phases.map(function (p) { return p.holes.length; }).join(" | "));
    var phases = f.phases.map(function (p, r) {
      return (f.period > 1 ? "r=" + r + ": " : "") + (p.start === null ? "reads nothing" : "{" + p.offsets.join(", ") + "}" + (f.period > 1 ? " from " + p.start : ""));
    }).join("; ");
    el("td", { class: "apg-l apg-phases" }, tr, phases);
  });
  var top = res.fields[res.fields.length - 1];
  var notes = [];
  if (top.period > 1) notes.push("The top layer's jump is " + fracText(top.jump) + " (a transposed layer divides it): outputs come in " + top.period + " phases, each with its own tap set.");
  if (top.hasHoles) notes.push("The top output's field has holes: input positions inside its span that no path reaches (gridding).");
  notes.forEach(function (t) { el("p", { class: "apg-note" }, view, t); });
  if (res.inputSize) {
    var treeHost = el("div", { class: "apg-stage apg-tree", tabindex: 0, "aria-label": "the positions each layer contributes to the chosen top output" }, view);
    var readout = el("div", { class: "apg-readout", "aria-live": "polite", "data-role": "readout" }, view);
    var playerHost = el("div", { class: "apg-player" }, view);
    var tree = new StackTree(treeHost, res, readout, function (y) { self.player.pause(); self.player.go(y); });
    this.tree = tree;
    this.player = new Player(playerHost, top.length, function (y) { tree.show(y); });
    this.player.go(Math.floor(top.length / 2));
  } else {
    el("p", { class: "apg-note" }, view, "Unbounded input: output 0 reads positions " + top.support(0).join(", ") + " (set an input size to see the layers' cells and the borders).");
  }
  this.gridding(view);
};

function describeLayer(l) {
  var p = l.pad.kind === "p" ? String(l.pad.p) : l.pad.kind === "lohi" ? l.pad.lo + ":" + l.pad.hi : l.pad.kind;
  return (l.t ? "tconv" : "conv") + " k" + l.k + (l.s > 1 ? " s" + l.s : "") + (l.d > 1 ? " d" + l.d : "") + " p" + p + (l.t && l.op ? " op" + l.op : "");
}

function stackSuggestions(layers, sn) {
  var out = [];
  var r = evaluateStack(layers, sn || null);
  var li = r.errorLayer;
  var ok = function (ls, size) { return evaluateStack(ls, size || null).ok; };
  if (sn) {
    for (var n = sn + 1; n <= 64; n++) {
      if (ok(layers, n)) { out.push({ label: "input size " + n, stack: stackToText(layers), sn: n }); break; }
    }
  }
  if (li !== null && li !== undefined && layers[li]) {
    ["op", "d", "k", "s"].forEach(function (f) {
      var lim = f === "op" ? [0, 5] : LIMITS[f];
      for (var dist = 1; dist <= lim[1] - lim[0]; dist++) {
        var done = false;
        [layers[li][f] - dist, layers[li][f] + dist].forEach(function (v) {
          if (done || v < lim[0] || v > lim[1]) return;
          var ls = parseStack(stackToText(layers));
          ls[li][f] = v;
          if (ok(ls, sn)) { out.push({ label: "layer " + li + " " + f + " " + v, stack: stackToText(ls), sn: sn }); done = true; }
        });
        if (done) break;
      }
    });
    var rm = parseStack(stackToText(layers));
    rm.splice(li, 1);
    if (rm.length && ok(rm, sn)) out.push({ label: "remove layer " + li, stack: stackToText(rm), sn: sn });
  }
  if (sn && ok(layers, 0)) out.push({ label: "unbounded input", stack: stackToText(layers), sn: 0 });
  return out.slice(0, 5);
}

function StackTree(host, res, readout, onPick) {
  this.host = host;
  this.res = res;
  this.readout = readout;
  var fields = res.fields;
  var L = fields.length;
  // every layer's cell p is drawn at the centre of its field on the input axis: centre + p * jump
  // (so strides spread a layer's cells apart and transposed layers pack them closer)
  var geo = [{ centre: 0, jump: 1, length: res.inputSize }];
  fields.forEach(function (f) {
    var ctr;
    try { ctr = f.centre[0] / f.centre[1]; } catch (e) { ctr = 0; }
    geo.push({ centre: ctr, jump: f.jump[0] / f.jump[1], length: f.length });
  });
  var lo = 0, hi = res.inputSize - 1;
  geo.forEach(function (g) {
    lo = Math.min(lo, g.centre);
    hi = Math.max(hi, g.centre + (g.length - 1) * g.jump);
  });
  var span = hi - lo + 1;
  var width = Math.max(260, (host.clientWidth || 600) - 8);
  var c = Math.max(4, Math.min(22, Math.floor((width - 70) / span)));
  var rowGap = Math.max(34, c * 2.2);
  var left = 66 - lo * c, top = 12;
  var w = 66 + span * c + 8, h = top + L * (c + rowGap) + c + 26;
  var svg = sv("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, class: "apg-svg", role: "img" }, host);
  sv("title", null, svg, "layers from the input (bottom) to the top output");
  this.c = c;
  this.rows = [];
  this.lines = sv("g", { class: "apg-lines" }, svg);
  for (var li = 0; li <= L; li++) {
    var y = top + (L - li) * (c + rowGap);
    var g = geo[li];
    var cw = Math.max(2, c * Math.min(1, g.jump));
    sv("text", { x: 2, y: y + c / 2 + 4, class: "apg-rowlabel" }, svg, li === 0 ? "input" : "layer " + (li - 1));
    var cells = [];
    var xs = [];
    for (var p = 0; p < g.length; p++) {
      var cx = left + (g.centre + p * g.jump) * c + c / 2;
      xs.push(cx);
      cells.push(sv("rect", {
        x: cx - cw / 2 + 0.5, y: y + 0.5, width: cw - 1, height: c - 1, class: "apg-cell " + (li === L ? "apg-output" : "apg-input"),
        "data-row": li, "data-pos": p, "data-kind": li === L ? "top" : "mid",
      }, svg));
    }
    this.rows.push({ y: y, xs: xs, cw: cw, cells: cells });
  }
  this.overlay = sv("g", null, svg);
  var pick = function (e) {
    var t = e.pointerType === "mouse" ? e.target : document.elementFromPoint(e.clientX, e.clientY) || e.target;
    if (t && t.getAttribute && t.getAttribute("data-kind") === "top") onPick(parseInt(t.getAttribute("data-pos"), 10));
  };
  svg.addEventListener("pointermove", function (e) { if (e.pointerType === "mouse") pick(e); });
  svg.addEventListener("pointerdown", pick);
}

StackTree.prototype.show = function (y) {
  var res = this.res, c = this.c, self = this;
  clear(this.overlay);
  clear(this.lines);
  var rows = stackTree(res.fields, res.inputSize, y);
  var maxPaths = 1;
  rows[0].forEach(function (v) { if (v > maxPaths) maxPaths = v; });
  rows.forEach(function (m, li) {
    var row = self.rows[li];
    m.forEach(function (count, x) {
      if (x < 0 || x >= row.xs.length) return;
      var shade = li === 0 ? 0.25 + 0.75 * (count / maxPaths) : 1;
      sv("rect", {
        x: row.xs[x] - row.cw / 2 + 0.5, y: row.y + 0.5, width: row.cw - 1, height: c - 1, class: li === 0 ? "apg-covered" : "apg-onpath",
        "fill-opacity": shade.toFixed(3), "data-role": li === 0 ? "covered" : "onpath", "data-pos": x, "data-paths": count,
      }, self.overlay);
    });
    if (li > 0) {
      var f = res.fields[li - 1];
      var below = self.rows[li - 1];
      m.forEach(function (_, p) {
        axisTaps(f.axis, p).forEach(function (x) {
          if (x < 0 || x >= below.xs.length) return;
          sv("line", { x1: row.xs[p], y1: row.y + c, x2: below.xs[x], y2: below.y, class: "apg-treeline" }, self.lines);
        });
      });
    }
  });
  var support = res.fields[res.fields.length - 1].support(y);
  var inRow = this.rows[0];
  if (support.length) {
    for (var x = support[0]; x <= support[support.length - 1]; x++) {
      if (rows[0].has(x)) continue;
      var x0 = inRow.xs[x] - c / 2;
      sv("path", {
        d: "M" + (x0 + 2) + " " + (inRow.y + 2) + "L" + (x0 + c - 2) + " " + (inRow.y + c - 2) +
          "M" + (x0 + c - 2) + " " + (inRow.y + 2) + "L" + (x0 + 2) + " " + (inRow.y + c - 2),
        class: "apg-holemark", "data-role": "hole", "data-pos": x,
      }, this.overlay);
    }
  }
  var topRow = this.rows[this.rows.length - 1];
  sv("rect", {
    x: topRow.xs[y] - topRow.cw / 2 + 0.5, y: topRow.y + 0.5, width: topRow.cw - 1, height: c - 1, class: "apg-current",
    "data-role": "current", "data-y": y,
  }, this.overlay);
  var holes = support.length ? support[support.length - 1] - support[0] + 1 - support.length : 0;
  this.readout.textContent = "top output " + y + " depends on " + support.length + " input position" + (support.length === 1 ? "" : "s") +
    (support.length ? " in " + support[0] + "\u2013" + support[support.length - 1] : "") +
    (holes ? ", with " + holes + " hole" + (holes === 1 ? "" : "s") + " (\u00d7) that no path reaches" : ", no holes") +
    "; shading: number of paths.";
};

/** (2, 2, 2) vs (1, 2, 5): the centre output's path counts over its 2-d field (unbounded). */
Playground.prototype.gridding = function (host) {
  var box = el("div", { class: "apg-gridding" }, host);
  el("h4", null, box, "Gridding: dilations (2, 2, 2) vs (1, 2, 5), k = 3");
  var row = el("div", { class: "apg-versus" }, box);
  [[2, 2, 2], [1, 2, 5]].forEach(function (rates) {
    var col = el("div", { class: "apg-vcol", "data-rates": rates.join(",") }, row);
    var specs = rates.map(function (d) { return new ConvSpec(3, 1, 0, d); });
    var f = receptiveField(specs, null)[rates.length - 1];
    var paths = f.paths(0);
    var counts = {};
    var maxc = 1;
    paths.forEach(function (pc) { counts[pc[0]] = pc[1]; });
    var size = f.size, start = f.start;
    var holes = f.holes.length;
    paths.forEach(function (pc) { if (pc[1] > maxc) maxc = pc[1]; });
    var c = Math.max(6, Math.min(14, Math.floor(((host.clientWidth || 600) / 2 - 30) / size)));
    var svg = sv("svg", { width: size * c + 4, height: size * c + 4, class: "apg-svg", role: "img" }, col);
    sv("title", null, svg, "paths from each input position to the centre output");
    var holeCount = 0;
    for (var i = 0; i < size; i++) {
      for (var j = 0; j < size; j++) {
        var a = counts[start + i] || 0, b = counts[start + j] || 0;
        var v = a * b;
        if (!v) holeCount++;
        sv("rect", {
          x: 2 + j * c, y: 2 + i * c, width: c - 0.5, height: c - 0.5,
          fill: v ? "rgba(11, 61, 92," + (0.15 + 0.85 * (v / (maxc * maxc))).toFixed(3) + ")" : "#e4572e",
          "data-paths": v,
        }, svg);
      }
    }
    el("div", { class: "apg-sub", "data-role": "gridding-text" }, col,
      "dilations " + rates.join(", ") + ": RF " + size + "x" + size + ": " + (holes ? holeCount + " holes of " + size * size + " (" + holes + " per axis), red" : "no holes"));
  });
};

// ------------------------------------------------------------------ report players

/** A compact player for one fixed layer (the report's animations): stage, scrubber, formula. */
function MiniPlayer(root) {
  var st = decodeState("playground?" + (root.getAttribute("data-atrous-player") || ""));
  var res = evaluateLayer(st);
  root.classList.add("apg", "apg-mini");
  clear(root);
  if (!res.ok) {
    el("div", { class: "apg-error", role: "alert" }, root, res.error);
    return;
  }
  var head = el("div", { class: "apg-summary" }, root);
  var ax = res.axes[0];
  var kind = (ax.dilation > 1 ? "dilated " : "") + (res.spec.transposed ? "transposed convolution" : "convolution");
  el("div", { class: "apg-title" }, head, kind + ": input " + res.sizes.join("x") + " \u2192 output " + res.out.join("x"));
  el("pre", { class: "apg-formula" }, head, res.formula.join("\n"));
  var stage = el("div", { class: "apg-stage", tabindex: 0 }, root);
  var readout = el("div", { class: "apg-readout", "aria-live": "off" }, root);
  var playerHost = el("div", { class: "apg-player" }, root);
  var count = res.out.reduce(function (a, b) { return a * b; }, 1);
  var toIdx = function (fr) { return res.out.length === 1 ? [fr] : [Math.floor(fr / res.out[1]), fr % res.out[1]]; };
  var player = null;
  var ctl = new LayerStage(stage, res, {
    readout: readout,
    onPick: function (ev) {
      if (ev.kind === "leave") { ctl.show(toIdx(player.frame)); return; }
      if (ev.kind === "out") { player.pause(); player.frame = ctl.flatOut(ev.index); player.slider.value = player.frame; ctl.show(ev.index); }
      else ctl.showInput(ev.index);
    },
  });
  player = new Player(playerHost, count, function (fr) { ctl.show(toIdx(fr)); }, { fps: 2 });
  player.go(0);
  var open = el("a", { href: "#playground?" + root.getAttribute("data-atrous-player"), class: "apg-open" }, playerHost, "open in the playground");
  open.addEventListener("click", function (e) {
    var main = document.querySelector("[data-atrous-playground]");
    if (main && main.playground) {
      e.preventDefault();
      main.playground.state = decodeState(open.getAttribute("href"));
      main.playground.render();
      main.scrollIntoView({ behavior: "smooth" });
    }
  });
  stage.addEventListener("keydown", function (e) {
    var step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (step) { e.preventDefault(); player.pause(); player.go(player.frame + step); }
    if (e.key === " ") { e.preventDefault(); if (player.timer) player.pause(); else player.start(); }
  });
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  if (!reduced && "IntersectionObserver" in window) {
    var seen = false;
    new IntersectionObserver(function (entries) {
      entries.forEach(function (en) {
        if (en.isIntersecting && !seen) { seen = true; player.start(); }
        else if (!en.isIntersecting && player.timer) { player.pause(); seen = false; }
      });
    }).observe(root);
  }
  root.player = player;
}

function autoMount() {
  var go = function () {
    var roots = document.querySelectorAll("[data-atrous-playground]");
    for (var i = 0; i < roots.length; i++) {
      if (roots[i].playground) continue;
      roots[i].playground = new Playground(roots[i], { embedded: roots[i].hasAttribute("data-embedded") });
      if (roots[i].hasAttribute("data-embedded") && location.hash.indexOf("#playground?") === 0) roots[i].scrollIntoView();
    }
    // the report's players are drawn when they come near the screen (a long page stays quick to open)
    var minis = document.querySelectorAll("[data-atrous-player]");
    var mount = function (m) { if (!m.player && !m.getAttribute("data-mounted")) { m.setAttribute("data-mounted", "1"); MiniPlayer(m); } };
    if ("IntersectionObserver" in window) {
      var near = new IntersectionObserver(function (entries) {
        entries.forEach(function (en) { if (en.isIntersecting) { mount(en.target); near.unobserve(en.target); } });
      }, { rootMargin: "600px 0px" });
      for (var j = 0; j < minis.length; j++) near.observe(minis[j]);
    } else {
      for (var j2 = 0; j2 < minis.length; j2++) mount(minis[j2]);
    }
    document.documentElement.setAttribute("data-apg-ready", String(Math.round(performance.now())));
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
  else go();
  window.addEventListener("hashchange", function () {
    var main = document.querySelector("[data-atrous-playground]");
    if (main && main.playground && location.hash.indexOf("#playground?") === 0) {
      var text = "#playground?" + encodeState(main.playground.state);
      if (text !== location.hash) {
        main.playground.state = decodeState(location.hash);
        main.playground.render();
      }
    }
  });
}

// Runs the playground's own script (the bundle extracted from the page) on settings read from
// a JSON file and prints what the page computes, for tests/viz/test_playground_js.py.
"use strict";
const fs = require("fs");
const [, , bundlePath, casesPath] = process.argv;
const A = require(bundlePath);

function fieldInfo(f) {
  let start = null, startError = null, centre = null;
  try { start = f.start; centre = f.centre; } catch (e) { if (!(e instanceof A.SpecError)) throw e; startError = e.message; }
  return {
    size: f.size, jump: f.jump, start, startError, centre, holes: f.holes, hasHoles: f.hasHoles,
    period: f.period, shift: f.shift, length: f.length,
    phases: f.phases.map((p) => p.positions()),
  };
}

function layerCase(st, i) {
  const r = A.evaluateLayer(st, false, i % 8 !== 0); // the nearest valid values of every 8th setting
  const out = { error: r.error, channelError: r.channelError };
  if (r.opRange !== undefined) out.opRange = r.opRange;
  if (r.validSizes !== undefined) out.validSizes = r.validSizes;
  if (r.suggestions) out.suggestions = r.suggestions.map((s) => s.state);
  if (!r.ok) return out;
  out.out = r.out;
  out.pads = r.pads;
  out.outputPadding = r.outputPadding;
  out.supports = r.fields.map((f) => { const s = []; for (let y = 0; y < f.length; y++) s.push(f.support(y)); return s; });
  out.unbounded = r.unbounded.map(fieldInfo);
  out.plans = r.plans.map((p) => ({ origin: p.origin, cats: p.cats, index: p.index, taps: p.taps, weights: p.weights, reads: p.reads }));
  out.matrix = r.matrix ? { rows: r.matrix.rows, cols: r.matrix.cols, entries: r.matrix.entries } : null;
  out.code = r.code;
  out.formula = r.formula;
  return out;
}

function stackCase(c) {
  const layers = A.parseStack(c.stack);
  const r = A.evaluateStack(layers, c.sn || null);
  const out = { error: r.error, text: A.stackToText(layers) };
  if (!r.ok) {
    if (c.suggest) out.suggestions = A.stackSuggestions(layers, c.sn).map((s) => ({ stack: s.stack, sn: s.sn }));
    return out;
  }
  out.fields = r.fields.map(fieldInfo);
  const top = r.fields[r.fields.length - 1];
  if (top.length !== null) {
    out.supports = [];
    for (let y = 0; y < top.length; y++) out.supports.push(top.support(y));
    const mid = Math.floor(top.length / 2);
    out.paths = top.paths(mid);
    out.tree = A.stackTree(r.fields, c.sn, mid).map((m) => Array.from(m.keys()).sort((a, b) => a - b));
  } else {
    out.paths = top.paths(0);
  }
  return out;
}

const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
const results = {
  layers: cases.layers.map((st, i) => layerCase(st, i)),
  stacks: cases.stacks.map(stackCase),
  states: (cases.states || []).map((s) => A.decodeState(A.encodeState(s))),
};
process.stdout.write(JSON.stringify(results));

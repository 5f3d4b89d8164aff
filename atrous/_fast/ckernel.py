"""A small C kernel for depthwise dilated convolution (stride 1), built on first use.

oneDNN's depthwise kernel (``jit_dw``) refuses a left padding along W of 7 or more and PyTorch
then runs oneDNN's im2col + GEMM fallback, 5-9x slower than the undilated call. This kernel
does the depthwise arithmetic directly on the NCHW tensor: each thread copies one input plane
into a row buffer padded along W (with one zero row after it), then every output row is a fixed
sum over the kernel taps, so its cost does not depend on the dilation; 3x3 kernels have their own
branch-free loop (the zero row stands in for rows outside the input).

Building and loading can never take the process down:

- The source is compiled with ``$CC`` (split like a shell word list, e.g. ``CC="ccache gcc"``;
  when ``CC`` is set it is the only compiler tried) or else ``cc`` / ``gcc`` / ``clang``, into
  the atrous cache directory. The object's name carries a hash of the source, the flags, the
  compiler and the CPU.
- The compiler runs in its own process group with a time limit (``ATROUS_COMPILE_TIMEOUT``
  seconds, default 120); past it the whole group is killed.
- A fresh object is loaded first in a child process, which calls the kernel on a tiny input
  and checks the result (a broken object kills the child, not this process); only then is it
  moved into the cache, with its size and SHA-256 written beside it (``<name>.so.json``).
- A cached object is loaded only if its size and checksum match that record; otherwise (a
  truncated, empty, foreign or garbage file, or a missing record) it is rebuilt.

Any failure gives one warning and :func:`load` returns ``None`` (the dispatcher then uses
another route); ``ATROUS_COMPILE=0`` turns the kernel off silently.

The functions (``T`` is ``float`` or ``double``):

- ``dw_fwd_T(x, w, bias, out, P, C, D, H, W, OD, OH, OW, KD, KH, KW, dd, dh, dw, ld, lh, lw,
  nthreads)``: ``out[p, od, i, j] = bias[c] + sum_t w[c, t] * x[p, od - ld + ta*dd,
  i - lh + a*dh, j - lw + b*dw]`` with ``c = p % C`` and zeros outside ``x`` (``ld, lh, lw``
  may be any integers, so the same function gives the input gradient with flipped taps).
- ``dw_gw_T(x, gy, gw, N, C, D, H, W, OD, OH, OW, KD, KH, KW, dd, dh, dw, ld, lh, lw,
  nthreads)``: ``gw[c, t] = sum_{n, pos} gy[n, c, pos] * x[n, c, pos - l + t*d]`` (accumulated
  in double).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

__all__ = ["SOURCE", "cache_dir", "cpu_id", "load"]

SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the input rows p0, p1, p2 of output row i of a 3x3 kernel in the padded buffer (row stride */
/* Wp), the zero row zr for a row outside the input */
#define ROWS3(T, i)                                                                                \
  const int64_t r0 = (i) - lh, r1 = r0 + dh, r2 = r0 + 2 * dh;                                     \
  const T* restrict p0 = (r0 >= 0 && r0 < H) ? buf + r0 * Wp : zr;                                 \
  const T* restrict p1 = (r1 >= 0 && r1 < H) ? buf + r1 * Wp : zr;                                 \
  const T* restrict p2 = (r2 >= 0 && r2 < H) ? buf + r2 * Wp : zr;

#define FWD(T, NAME)                                                                               \
int NAME(const T* x, const T* w, const T* bias, T* out, int64_t P, int64_t C,                      \
         int64_t D, int64_t H, int64_t W, int64_t OD, int64_t OH, int64_t OW,                      \
         int64_t KD, int64_t KH, int64_t KW, int64_t dd, int64_t dh, int64_t dw,                   \
         int64_t ld, int64_t lh, int64_t lw, int nthreads) {                                       \
  const int64_t Wp = OW + (KW - 1) * dw;                                                           \
  int err = 0;                                                                                     \
  _Pragma("omp parallel num_threads(nthreads)")                                                    \
  {                                                                                                \
    T* buf = (T*)malloc(sizeof(T) * (size_t)(Wp * D * H + Wp));                                    \
    const T** rows = (const T**)malloc(sizeof(T*) * (size_t)(KD * KH + 1));                        \
    T* wv = (T*)malloc(sizeof(T) * (size_t)(KD * KH * KW + 1));                                    \
    int ok = buf && rows && wv;                                                                    \
    if (!ok) {                                                                                     \
      _Pragma("omp atomic write")                                                                  \
      err = 1;                                                                                     \
    }                                                                                              \
    int64_t c0 = lw > 0 ? lw : 0;                                                                  \
    int64_t c1 = W + lw < Wp ? W + lw : Wp;                                                        \
    if (c1 < c0) c1 = c0;                                                                          \
    if (ok) {                                                                                      \
      for (int64_t c = 0; c < Wp; ++c) buf[Wp * D * H + c] = (T)0;                                 \
      for (int64_t r = 0; r < D * H; ++r) {                                                        \
        T* br = buf + r * Wp;                                                                      \
        for (int64_t c = 0; c < c0; ++c) br[c] = (T)0;                                             \
        for (int64_t c = c1; c < Wp; ++c) br[c] = (T)0;                                            \
      }                                                                                            \
    }                                                                                              \
    int64_t p;                                                                                     \
    _Pragma("omp for schedule(static)")                                                            \
    for (p = 0; p < P; ++p) {                                                                      \
      if (!ok) continue;                                                                           \
      const int64_t ch = p % C;                                                                    \
      const T* xp = x + p * D * H * W;                                                             \
      const T* wc = w + ch * KD * KH * KW;                                                         \
      T* op = out + p * OD * OH * OW;                                                              \
      const T b0 = bias ? bias[ch] : (T)0;                                                         \
      if (c1 > c0)                                                                                 \
        for (int64_t r = 0; r < D * H; ++r)                                                        \
          memcpy(buf + r * Wp + c0, xp + r * W + (c0 - lw), sizeof(T) * (size_t)(c1 - c0));        \
      if (KD == 1 && KH == 3 && KW == 3) {                                                         \
        /* the common 3x3 case: weights in registers, a zero row for taps outside the input,  */   \
        /* one branch-free loop per output row (0.85-0.91 of oneDNN's undilated call measured  */  \
        /* on N8 C32-C256 33x33-65x65, against 1.03-1.22 with the general loop below)          */  \
        const T q0 = wc[0], q1 = wc[1], q2 = wc[2], q3 = wc[3], q4 = wc[4];                        \
        const T q5 = wc[5], q6 = wc[6], q7 = wc[7], q8 = wc[8];                                    \
        const T* zr = buf + Wp * H;                                                                \
        const int64_t s1 = dw, s2 = 2 * dw;                                                        \
        for (int64_t i = 0; i < OH; ++i) {                                                         \
          ROWS3(T, i)                                                                              \
          T* restrict orow = op + i * OW;                                                          \
          for (int64_t j = 0; j < OW; ++j)                                                         \
            orow[j] = b0 + q0 * p0[j] + q1 * p0[j + s1] + q2 * p0[j + s2]                          \
                    + q3 * p1[j] + q4 * p1[j + s1] + q5 * p1[j + s2]                               \
                    + q6 * p2[j] + q7 * p2[j + s1] + q8 * p2[j + s2];                              \
        }                                                                                          \
        continue;                                                                                  \
      }                                                                                            \
      for (int64_t od = 0; od < OD; ++od)                                                          \
        for (int64_t i = 0; i < OH; ++i) {                                                         \
          int64_t nr = 0;                                                                          \
          for (int64_t ta = 0; ta < KD; ++ta) {                                                    \
            const int64_t z = od - ld + ta * dd;                                                   \
            for (int64_t a = 0; a < KH; ++a) {                                                     \
              const int64_t r = i - lh + a * dh;                                                   \
              if (z < 0 || z >= D || r < 0 || r >= H) continue;                                    \
              rows[nr] = buf + (z * H + r) * Wp;                                                   \
              for (int64_t b = 0; b < KW; ++b) wv[nr * KW + b] = wc[(ta * KH + a) * KW + b];       \
              ++nr;                                                                                \
            }                                                                                      \
          }                                                                                        \
          T* restrict orow = op + (od * OH + i) * OW;                                              \
          if (KW == 3) {                                                                           \
            const int64_t s1 = dw, s2 = 2 * dw;                                                    \
            int64_t t = 0;                                                                         \
            if (nr >= 3) {                                                                         \
              const T* restrict p0 = rows[0];                                                      \
              const T* restrict p1 = rows[1];                                                      \
              const T* restrict p2 = rows[2];                                                      \
              const T a0 = wv[0], a1 = wv[1], a2 = wv[2];                                          \
              const T e0 = wv[3], e1 = wv[4], e2 = wv[5];                                          \
              const T f0 = wv[6], f1 = wv[7], f2 = wv[8];                                          \
              for (int64_t j = 0; j < OW; ++j)                                                     \
                orow[j] = b0 + a0 * p0[j] + a1 * p0[j + s1] + a2 * p0[j + s2]                      \
                        + e0 * p1[j] + e1 * p1[j + s1] + e2 * p1[j + s2]                           \
                        + f0 * p2[j] + f1 * p2[j + s1] + f2 * p2[j + s2];                          \
              t = 3;                                                                               \
            } else {                                                                               \
              for (int64_t j = 0; j < OW; ++j) orow[j] = b0;                                       \
            }                                                                                      \
            for (; t < nr; ++t) {                                                                  \
              const T* restrict p0 = rows[t];                                                      \
              const T a0 = wv[t * 3], a1 = wv[t * 3 + 1], a2 = wv[t * 3 + 2];                      \
              for (int64_t j = 0; j < OW; ++j) orow[j] += a0 * p0[j] + a1 * p0[j + s1] + a2 * p0[j + s2]; \
            }                                                                                      \
          } else {                                                                                 \
            for (int64_t j = 0; j < OW; ++j) orow[j] = b0;                                         \
            for (int64_t t = 0; t < nr; ++t)                                                       \
              for (int64_t b = 0; b < KW; ++b) {                                                   \
                const T* restrict p0 = rows[t] + b * dw;                                           \
                const T a0 = wv[t * KW + b];                                                       \
                for (int64_t j = 0; j < OW; ++j) orow[j] += a0 * p0[j];                            \
              }                                                                                    \
          }                                                                                        \
        }                                                                                          \
    }                                                                                              \
    free(buf); free(rows); free(wv);                                                               \
  }                                                                                                \
  return err;                                                                                      \
}

#define GW(T, NAME)                                                                                \
int NAME(const T* x, const T* gy, T* gw, int64_t N, int64_t C,                                     \
         int64_t D, int64_t H, int64_t W, int64_t OD, int64_t OH, int64_t OW,                      \
         int64_t KD, int64_t KH, int64_t KW, int64_t dd, int64_t dh, int64_t dw,                   \
         int64_t ld, int64_t lh, int64_t lw, int nthreads) {                                       \
  const int64_t Wp = OW + (KW - 1) * dw;                                                           \
  const int64_t KT = KD * KH * KW;                                                                 \
  int err = 0;                                                                                     \
  _Pragma("omp parallel num_threads(nthreads)")                                                    \
  {                                                                                                \
    T* buf = (T*)malloc(sizeof(T) * (size_t)(Wp * D * H + Wp));                                    \
    double* acc = (double*)malloc(sizeof(double) * (size_t)(KT + 1));                              \
    int ok = buf && acc;                                                                           \
    if (!ok) {                                                                                     \
      _Pragma("omp atomic write")                                                                  \
      err = 1;                                                                                     \
    }                                                                                              \
    int64_t c0 = lw > 0 ? lw : 0;                                                                  \
    int64_t c1 = W + lw < Wp ? W + lw : Wp;                                                        \
    if (c1 < c0) c1 = c0;                                                                          \
    if (ok)                                                                                        \
      for (int64_t c = 0; c < Wp; ++c) buf[Wp * D * H + c] = (T)0;                                 \
    if (ok)                                                                                        \
      for (int64_t r = 0; r < D * H; ++r) {                                                        \
        T* br = buf + r * Wp;                                                                      \
        for (int64_t c = 0; c < c0; ++c) br[c] = (T)0;                                             \
        for (int64_t c = c1; c < Wp; ++c) br[c] = (T)0;                                            \
      }                                                                                            \
    int64_t ch;                                                                                    \
    _Pragma("omp for schedule(static)")                                                            \
    for (ch = 0; ch < C; ++ch) {                                                                   \
      if (!ok) continue;                                                                           \
      for (int64_t t = 0; t < KT; ++t) acc[t] = 0.0;                                               \
      for (int64_t n = 0; n < N; ++n) {                                                            \
        const int64_t p = n * C + ch;                                                              \
        const T* xp = x + p * D * H * W;                                                           \
        const T* gp = gy + p * OD * OH * OW;                                                       \
        if (c1 > c0)                                                                               \
          for (int64_t r = 0; r < D * H; ++r)                                                      \
            memcpy(buf + r * Wp + c0, xp + r * W + (c0 - lw), sizeof(T) * (size_t)(c1 - c0));      \
        if (KD == 1 && KH == 3 && KW == 3) {                                                       \
          /* 3x3: 16 partial sums per tap kept across the plane (one reduction per plane, not */   \
          /* one per row and tap), a zero row for taps outside the input                       */  \
          T sm[9][16];                                                                             \
          for (int t = 0; t < 9; ++t)                                                              \
            for (int l = 0; l < 16; ++l) sm[t][l] = (T)0;                                          \
          const T* zr = buf + Wp * H;                                                              \
          const int64_t s1 = dw, s2 = 2 * dw;                                                      \
          for (int64_t i = 0; i < OH; ++i) {                                                       \
            ROWS3(T, i)                                                                            \
            const T* restrict g = gp + i * OW;                                                     \
            int64_t j = 0;                                                                         \
            for (; j + 16 <= OW; j += 16)                                                          \
              for (int l = 0; l < 16; ++l) {                                                       \
                const T gv = g[j + l];                                                             \
                sm[0][l] += gv * p0[j + l]; sm[1][l] += gv * p0[j + l + s1];                       \
                sm[2][l] += gv * p0[j + l + s2]; sm[3][l] += gv * p1[j + l];                       \
                sm[4][l] += gv * p1[j + l + s1]; sm[5][l] += gv * p1[j + l + s2];                  \
                sm[6][l] += gv * p2[j + l]; sm[7][l] += gv * p2[j + l + s1];                       \
                sm[8][l] += gv * p2[j + l + s2];                                                   \
              }                                                                                    \
            for (int l = 0; j < OW; ++j, ++l) {                                                    \
              const T gv = g[j];                                                                   \
              sm[0][l] += gv * p0[j]; sm[1][l] += gv * p0[j + s1]; sm[2][l] += gv * p0[j + s2];    \
              sm[3][l] += gv * p1[j]; sm[4][l] += gv * p1[j + s1]; sm[5][l] += gv * p1[j + s2];    \
              sm[6][l] += gv * p2[j]; sm[7][l] += gv * p2[j + s1]; sm[8][l] += gv * p2[j + s2];    \
            }                                                                                      \
          }                                                                                        \
          for (int t = 0; t < 9; ++t)                                                              \
            for (int l = 0; l < 16; ++l) acc[t] += (double)sm[t][l];                               \
          continue;                                                                                \
        }                                                                                          \
        for (int64_t od = 0; od < OD; ++od)                                                        \
          for (int64_t i = 0; i < OH; ++i) {                                                       \
            const T* restrict grow = gp + (od * OH + i) * OW;                                      \
            for (int64_t ta = 0; ta < KD; ++ta) {                                                  \
              const int64_t z = od - ld + ta * dd;                                                 \
              if (z < 0 || z >= D) continue;                                                       \
              for (int64_t a = 0; a < KH; ++a) {                                                   \
                const int64_t r = i - lh + a * dh;                                                 \
                if (r < 0 || r >= H) continue;                                                     \
                const T* prow = buf + (z * H + r) * Wp;                                            \
                for (int64_t b = 0; b < KW; ++b) {                                                 \
                  const T* restrict xs = prow + b * dw;                                            \
                  T s = (T)0;                                                                      \
                  _Pragma("omp simd reduction(+:s)")                                               \
                  for (int64_t j = 0; j < OW; ++j) s += grow[j] * xs[j];                           \
                  acc[(ta * KH + a) * KW + b] += (double)s;                                        \
                }                                                                                  \
              }                                                                                    \
            }                                                                                      \
          }                                                                                        \
      }                                                                                            \
      for (int64_t t = 0; t < KT; ++t) gw[ch * KT + t] = (T)acc[t];                                \
    }                                                                                              \
    free(buf); free(acc);                                                                          \
  }                                                                                                \
  return err;                                                                                      \
}

FWD(float, dw_fwd_f32)
FWD(double, dw_fwd_f64)
GW(float, dw_gw_f32)
GW(double, dw_gw_f64)
"""

_FLAG_SETS = (
    ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c99"],
    ["-O3", "-fopenmp", "-fPIC", "-shared", "-std=c99"],
    ["-O3", "-fPIC", "-shared", "-std=c99"],
)

#: seconds the compiler may take (``ATROUS_COMPILE_TIMEOUT``); ``--version`` gets at most 30
DEFAULT_TIMEOUT = 120.0

_lock = threading.Lock()
_state: dict[str, ctypes.CDLL | None] = {}

#: the child process's check of a fresh object: load it, bind it, run the 3x3 forward on a
#: 1x1x3x3 input with padding 1 and compare the centre output with the sum it must give
_SMOKE = r"""
import ctypes, sys
try:
    lib = ctypes.CDLL(sys.argv[1])
except OSError:
    sys.exit(4)
try:
    for name in ("dw_fwd_f32", "dw_fwd_f64", "dw_gw_f32", "dw_gw_f64"):
        getattr(lib, name)
except AttributeError:
    sys.exit(5)
f = lib.dw_fwd_f64
f.restype = ctypes.c_int
p, i64 = ctypes.c_void_p, ctypes.c_int64
f.argtypes = [p, p, p, p, *([i64] * 17), ctypes.c_int]
D9 = ctypes.c_double * 9
x, w, out = D9(*range(1, 10)), D9(*([1.0] * 9)), D9()
err = f(ctypes.addressof(x), ctypes.addressof(w), None, ctypes.addressof(out), 1, 1,
        1, 3, 3, 1, 3, 3, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1)
sys.exit(0 if err == 0 and out[4] == 45.0 and out[0] == 12.0 else 3)
"""
#: what the child's exit status means
_SMOKE_STATUS = {
    3: "it computes a wrong result",
    4: "a child process cannot load it",
    5: "it lacks the kernel's functions",
}


class _Failure(Exception):
    """Why the kernel is unavailable (the warning's text); ``final``: do not try other flags."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


def cache_dir() -> Path:
    """The atrous cache directory: ``$ATROUS_CACHE_DIR``, else ``$XDG_CACHE_HOME/atrous``, else
    ``~/.cache/atrous``."""
    env = os.environ.get("ATROUS_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "atrous"


def cpu_id() -> str:
    """A description of this CPU (its model and flags): part of every cache key."""
    text = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features")):
                    text += line
                if line.strip() == "":
                    break
    except OSError:
        pass
    return text


def _timeout() -> float:
    text = os.environ.get("ATROUS_COMPILE_TIMEOUT", "")
    if not text.strip():
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise _Failure(f"ATROUS_COMPILE_TIMEOUT must be a positive number of seconds, got {text!r}", final=True)
    return value


def _compiler() -> list[str] | None:
    """The compiler's command (``$CC`` split into words, its program resolved), or None where
    none is found; raises where ``CC`` is set but is not a program."""
    cc = os.environ.get("CC", "").strip()
    if cc:
        try:
            words = shlex.split(cc)
        except ValueError as e:
            raise _Failure(f"CC={cc!r} cannot be split into words ({e})", final=True) from None
        found = shutil.which(words[0]) if words else None
        if found is None:
            raise _Failure(f"CC={cc!r} is not an executable program (unset CC to use cc, gcc or clang)", final=True)
        return [found, *words[1:]]
    found = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    return None if found is None else [found]


def _run(argv: list[str], timeout: float, cwd: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in its own process group; past ``timeout`` seconds kill the whole group."""
    with subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:  # (the time limit, or an interrupt): the group goes, then is reaped
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)  # (a child that left the group may hold the pipes)
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _version(cc: list[str], timeout: float) -> str:
    try:
        return _run([*cc, "--version"], min(timeout, 30.0)).stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        raise _Failure(
            f"{shlex.join(cc)} --version did not answer within {min(timeout, 30.0):g} s; killed it", final=True
        ) from None
    except OSError as e:
        raise _Failure(f"cannot run {shlex.join(cc)} ({e})", final=True) from None


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def _digest(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def _verified(target: Path) -> str | None:
    """None where ``target`` matches the size and checksum recorded beside it, else why not."""
    record_path = _record_path(target)
    if not target.is_file() or (record_path.exists() and not record_path.is_file()):
        return "is not a regular file (or its record is not)"  # (a fifo would block the read)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        size, sha = record["size"], record["sha256"]
    except FileNotFoundError:
        return "has no size/checksum record"
    except (OSError, ValueError, RecursionError, KeyError, TypeError) as e:
        return f"has an unreadable size/checksum record ({type(e).__name__})"
    try:
        actual = target.stat().st_size
        if actual != size:
            return f"does not match its record ({actual} bytes, {str(size)[:20]} recorded)"
        if _digest(target) != (size, sha):
            return "does not match its record (another checksum)"
    except OSError as e:
        return f"cannot be read ({e})"
    return None


def _write_atomic(path: Path, data: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _smoke(path: Path, timeout: float) -> str | None:
    """None where a child process loads ``path`` and computes right with it, else why not."""
    try:
        done = _run([sys.executable, "-I", "-c", _SMOKE, str(path)], max(timeout, 30.0))
    except subprocess.TimeoutExpired:
        return "loading it in a child process did not finish"
    except OSError as e:
        return f"cannot start a child process to check it ({e})"
    if done.returncode < 0:
        return f"a child process that loaded it died of signal {-done.returncode}"
    if done.returncode:
        return _SMOKE_STATUS.get(done.returncode, f"a child process checking it failed (status {done.returncode})")
    return None


def _build(cc: list[str], flags: list[str], target: Path, timeout: float) -> ctypes.CDLL:
    """Compile, check in a child process, load, and only then move into the cache with its
    size/checksum record."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as tmp:
        (Path(tmp) / "atrous_dw.c").write_text(SOURCE, encoding="utf-8")
        out = Path(tmp) / target.name
        try:
            # (relative names and cwd: the object does not record the temporary folder)
            done = _run([*cc, *flags, "atrous_dw.c", "-o", target.name], timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise _Failure(
                f"compiling with {shlex.join(cc)} took longer than {timeout:g} s (ATROUS_COMPILE_TIMEOUT); "
                "killed the compiler and its children",
                final=True,
            ) from None
        except OSError as e:
            raise _Failure(f"cannot run {shlex.join(cc)} ({e})", final=True) from None
        if done.returncode != 0 or not out.is_file():
            last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise _Failure(f"compiling with {shlex.join(cc)} {' '.join(flags)} failed ({last[0][:200]})")
        why = _smoke(out, timeout)
        if why is not None:
            raise _Failure(f"the object built with {' '.join(flags)} is unusable: {why}")
        lib = _bind(ctypes.CDLL(str(out)))
        size, sha = _digest(out)
        record = _record_path(target)
        _write_atomic(record, json.dumps({"size": size, "sha256": sha}))
        os.replace(out, target)  # atomic: a concurrent build writes the same bytes
    return lib


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for name in ("dw_fwd_f32", "dw_fwd_f64"):
        fn = getattr(lib, name)
        fn.restype = i32
        fn.argtypes = [p, p, p, p, *([i64] * 17), i32]
    for name in ("dw_gw_f32", "dw_gw_f64"):
        fn = getattr(lib, name)
        fn.restype = i32
        fn.argtypes = [p, p, p, *([i64] * 17), i32]
    return lib


def _target(cc: list[str], version: str, flags: list[str]) -> Path:
    # ("checked": objects of this version carry a size/checksum record; older ones are not reused)
    parts = ["checked", SOURCE, " ".join(flags), *cc, version, cpu_id()]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return cache_dir() / f"dwconv-{digest}.so"


def _find() -> tuple[ctypes.CDLL, list[str]]:
    """The library and the notes to report (a cached object that had to be rebuilt); raises
    :class:`_Failure` with every reason where no flag set gives a usable object."""
    cc = _compiler()
    if cc is None:
        raise _Failure("no C compiler found (set CC)", final=True)
    timeout = _timeout()
    version = _version(cc, timeout)
    notes: list[str] = []
    reasons: list[str] = []
    for flags in _FLAG_SETS:
        target = _target(cc, version, flags)
        damaged = ""
        if target.exists():
            why = _verified(target)
            if why is None:
                try:
                    return _bind(ctypes.CDLL(str(target))), notes
                except (OSError, AttributeError) as e:
                    why = f"cannot be loaded ({type(e).__name__}: {str(e)[:200]})"
            damaged = f"the cached kernel {target} {why}"
        try:
            lib = _build(cc, flags, target, timeout)
        except _Failure as e:
            if e.final:
                raise
            reasons.append(f"{damaged}; building it again failed: {e}" if damaged else str(e))
            continue
        except (OSError, AttributeError) as e:  # unwritable cache dir, unloadable object
            reasons.append(f"{damaged + '; ' if damaged else ''}{type(e).__name__}: {str(e)[:200]}")
            continue
        if damaged:
            notes.append(f"{damaged}; rebuilt it")
        return lib, notes
    raise _Failure("; ".join(reasons))


def load() -> ctypes.CDLL | None:
    """The compiled kernel library (built on first call), or ``None`` where it cannot be built
    or ``ATROUS_COMPILE=0``; the result is remembered for the process."""
    if "lib" in _state:
        return _state["lib"]
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        lib: ctypes.CDLL | None = None
        message = ""
        if os.environ.get("ATROUS_COMPILE", "1").strip() != "0":
            try:
                lib, notes = _find()
                if notes:
                    message = "atrous: " + "; ".join(notes)
            except _Failure as e:
                message = (
                    f"atrous: the depthwise C kernel is unavailable ({e}); depthwise dilated "
                    "convolutions use the padded oneDNN route instead"
                )
        if message:
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        _state["lib"] = lib
        return lib

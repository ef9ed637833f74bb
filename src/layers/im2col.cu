// CUDA im2col / col2im. im2col: one thread per column-matrix element, a block
// row per matrix row, so consecutive threads write consecutive columns
// (coalesced stores) and read neighbouring input pixels.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "core/cuda_check.h"
#include "layers/im2col.h"

#include <type_traits>

namespace deftnn::detail {

namespace {

constexpr int kThreads = 256;      // threads per block
constexpr int kMaxGridY = 65535;   // CUDA's gridDim.y limit
constexpr int kRowsPerBlock = 16;  // im2col rows per block: row decoding and column decoding are shared

struct Geom32 {  // int32 copy of ConvGeom for cheap index arithmetic
  int C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo, HW, cs;
};

// A producer's deferred epilogue applied to every in-bounds input value read.
struct Act32 {
  const float* bias;  // per channel of the group, or null
  bool relu;
  float slope;
};
__device__ __forceinline__ float apply_act(float v, float b, const Act32& a) {
  v += b;
  return a.relu && !(v > 0.f) ? v * a.slope : v;
}

// DEFTNN_IM2COL_SCALAR=1 forces the one-column-per-thread kernel (for
// before/after measurements and tests of both kernels).
bool scalar_im2col() {
  const char* e = std::getenv("DEFTNN_IM2COL_SCALAR");
  return e && *e && *e != '0';
}

Geom32 to32(const ConvGeom& g) {
  DEFTNN_CHECK(g.C * g.chan_stride() < (int64_t(1) << 31), "im2col: group input too large for int32 indexing");
  return {int(g.C), int(g.H), int(g.W), int(g.kh), int(g.kw), int(g.sh), int(g.sw), int(g.ph), int(g.pw),
          int(g.Ho()), int(g.Wo()), int(g.Ho() * g.Wo()), int(g.chan_stride())};
}

// Block (blockIdx.x, blockIdx.y): kThreads columns x kRowsPerBlock rows. The
// rows' decoding (channel offset, kernel offsets) is done once per block into
// shared memory; each thread then decodes its column once and writes
// kRowsPerBlock elements, one per row, each warp store 128 contiguous bytes.
template <bool kAct>
__global__ void im2col_kernel(const float* __restrict__ x, Geom32 g, int ncols, int64_t image_stride,
                              float* __restrict__ col, int64_t ldcol, const int32_t* __restrict__ rows, int R,
                              Act32 act) {
  __shared__ int s_off[kRowsPerBlock], s_i[kRowsPerBlock], s_j[kRowsPerBlock];
  __shared__ float s_b[kRowsPerBlock];
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  int n = 0, h0 = 0, w0 = 0;
  if (q < ncols) {
    n = q / g.HW;
    const int p = q - n * g.HW;
    const int ho = p / g.Wo, wo = p - ho * g.Wo;
    h0 = ho * g.sh - g.ph, w0 = wo * g.sw - g.pw;
  }
  const float* xn = x + n * image_stride;
  for (int r0 = blockIdx.y * kRowsPerBlock; r0 < R; r0 += gridDim.y * kRowsPerBlock) {
    __syncthreads();
    if (threadIdx.x < kRowsPerBlock && r0 + int(threadIdx.x) < R) {
      const int k = rows ? rows[r0 + threadIdx.x] : r0 + int(threadIdx.x);
      const int c = k / (g.kh * g.kw), i = (k / g.kw) % g.kh, j = k % g.kw;
      s_off[threadIdx.x] = c * g.cs;
      s_i[threadIdx.x] = i;
      s_j[threadIdx.x] = j;
      if (kAct) s_b[threadIdx.x] = act.bias ? __ldg(act.bias + c) : 0.f;
    }
    __syncthreads();
    if (q >= ncols) continue;
    const int nr = min(kRowsPerBlock, R - r0);
    float* out = col + r0 * ldcol + q;
#pragma unroll 4
    for (int t = 0; t < nr; ++t) {
      const int h = h0 + s_i[t], w = w0 + s_j[t];
      float v = 0.f;
      if (unsigned(h) < unsigned(g.H) && unsigned(w) < unsigned(g.W)) {
        v = __ldg(xn + s_off[t] + h * g.W + w);
        if (kAct) v = apply_act(v, s_b[t], act);
      }
      out[t * ldcol] = v;
    }
  }
}

// 4 columns per thread, in one of two mappings:
// - consecutive (kInterleaved = false): columns q0..q0+3 and one 16-byte store
//   per row (a warp writes 512 contiguous bytes per row): a quarter of the
//   store instructions and of the shared-memory reads of the row decoding.
//   Needs ncols % 4 == 0, ldcol % 4 == 0 and col 16-byte aligned; the 4
//   columns may straddle an image or output-row boundary (each is decoded on
//   its own).
// - interleaved (kInterleaved = true), for strided convolutions (sw > 1,
//   CaffeNet's conv1): columns q, q + 256, q + 512, q + 768 of a block, so each
//   load instruction of a warp reads 32 consecutive output positions
//   (addresses sw * 4 bytes apart, 4 cache lines at sw = 4) rather than 32
//   positions 4 apart (16 lines): the consecutive mapping spends 4x the L1
//   wavefronts on conv1 and is bound by them. Stores are 128-byte warp rows.
//   Any ncols and alignment.
template <bool kAct, bool kInterleaved>
__global__ void im2col4_kernel(const float* __restrict__ x, Geom32 g, int ncols, int64_t image_stride,
                               float* __restrict__ col, int64_t ldcol, const int32_t* __restrict__ rows, int R,
                               Act32 act) {
  __shared__ int s_off[kRowsPerBlock], s_i[kRowsPerBlock], s_j[kRowsPerBlock];
  __shared__ float s_b[kRowsPerBlock];
  // Column of slot v: q0 + v * step.
  const int q0 = kInterleaved ? blockIdx.x * blockDim.x * 4 + threadIdx.x : (blockIdx.x * blockDim.x + threadIdx.x) * 4;
  const int step = kInterleaved ? int(blockDim.x) : 1;
  int h0[4], w0[4];
  const float* xn[4];
#pragma unroll
  for (int v = 0; v < 4; ++v) {
    const int q = min(q0 + v * step, ncols - 1);
    const int n = q / g.HW, p = q - n * g.HW;
    const int ho = p / g.Wo, wo = p - ho * g.Wo;
    h0[v] = ho * g.sh - g.ph, w0[v] = wo * g.sw - g.pw;
    xn[v] = x + n * image_stride;
  }
  for (int r0 = blockIdx.y * kRowsPerBlock; r0 < R; r0 += gridDim.y * kRowsPerBlock) {
    __syncthreads();
    if (threadIdx.x < kRowsPerBlock && r0 + int(threadIdx.x) < R) {
      const int k = rows ? rows[r0 + threadIdx.x] : r0 + int(threadIdx.x);
      const int c = k / (g.kh * g.kw), i = (k / g.kw) % g.kh, j = k % g.kw;
      s_off[threadIdx.x] = c * g.cs;
      s_i[threadIdx.x] = i;
      s_j[threadIdx.x] = j;
      if (kAct) s_b[threadIdx.x] = act.bias ? __ldg(act.bias + c) : 0.f;
    }
    __syncthreads();
    if (q0 >= ncols) continue;
    const int nr = min(kRowsPerBlock, R - r0);
    float* out = col + r0 * ldcol + q0;
#pragma unroll(kInterleaved ? 2 : 4)
    for (int t = 0; t < nr; ++t) {
      const int off = s_off[t], di = s_i[t], dj = s_j[t];
      float e[4];
#pragma unroll
      for (int v = 0; v < 4; ++v) {
        const int h = h0[v] + di, w = w0[v] + dj;
        e[v] = 0.f;
        if (unsigned(h) < unsigned(g.H) && unsigned(w) < unsigned(g.W)) {
          e[v] = __ldg(xn[v] + off + h * g.W + w);
          if (kAct) e[v] = apply_act(e[v], s_b[t], act);
        }
      }
      if (kInterleaved) {
#pragma unroll
        for (int v = 0; v < 4; ++v)
          if (q0 + v * step < ncols) out[t * ldcol + v * step] = e[v];
      } else {
        *reinterpret_cast<float4*>(out + t * ldcol) = make_float4(e[0], e[1], e[2], e[3]);
      }
    }
  }
}

// Dense adjoint, Caffe's: one thread per input pixel gathers every column
// element that read it. Deterministic.
__global__ void col2im_gather_kernel(const float* __restrict__ col, Geom32 g, int batch, int64_t image_stride,
                                     int64_t ldcol, float* __restrict__ dx) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t per_image = int64_t(g.C) * g.H * g.W;
  if (idx >= per_image * batch) return;
  const int n = int(idx / per_image);
  const int e = int(idx - n * per_image);
  const int c = e / (g.H * g.W), hw = e - c * g.H * g.W;
  const int hp = hw / g.W + g.ph, wp = hw % g.W + g.pw;
  const int ho0 = hp < g.kh ? 0 : (hp - g.kh) / g.sh + 1, ho1 = min(hp / g.sh + 1, g.Ho);
  const int wo0 = wp < g.kw ? 0 : (wp - g.kw) / g.sw + 1, wo1 = min(wp / g.sw + 1, g.Wo);
  float s = 0.f;
  const float* cn = col + int64_t(n) * g.HW;
  for (int ho = ho0; ho < ho1; ++ho)
    for (int wo = wo0; wo < wo1; ++wo) {
      const int i = hp - ho * g.sh, j = wp - wo * g.sw;
      const int k = (c * g.kh + i) * g.kw + j;
      s += cn[k * ldcol + ho * g.Wo + wo];
    }
  dx[n * image_stride + e] += s;
}

// Row-subset adjoint: one thread per column-matrix element, atomic adds.
__global__ void col2im_scatter_kernel(const float* __restrict__ col, Geom32 g, int ncols, int64_t image_stride,
                                      int64_t ldcol, float* dx, const int32_t* __restrict__ rows, int R) {
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= ncols) return;
  const int n = q / g.HW, p = q - n * g.HW;
  const int ho = p / g.Wo, wo = p - ho * g.Wo;
  float* dxn = dx + n * image_stride;
  for (int r = blockIdx.y; r < R; r += gridDim.y) {
    const int k = rows[r];
    const int c = k / (g.kh * g.kw), i = (k / g.kw) % g.kh, j = k % g.kw;
    const int h = ho * g.sh - g.ph + i, w = wo * g.sw - g.pw + j;
    if (h >= 0 && h < g.H && w >= 0 && w < g.W) atomicAdd(dxn + (c * g.H + h) * g.W + w, col[r * ldcol + q]);
  }
}

// im2row in bf16/fp16 (im2row_lowp, layers/im2col.h): out (rows_out, ld),
// row q = output pixel, element r = column-matrix row r. A block makes one
// tile of kTP pixels x kTR elements through shared memory: it reads along
// pixels (consecutive output positions read consecutive input pixels at
// stride 1: coalesced) and writes along r (a warp stores 128 contiguous bytes
// of a row, two 16-bit values per thread). Reading along r instead (a warp's
// 64 taps spread over several input rows) was bound by L1 wavefronts: 1.47 of
// CaffeNet b128's 2.40 ms on the H100.
constexpr int kTP = 64;  // pixels per tile
constexpr int kTR = 64;  // elements (column-matrix rows) per tile
constexpr int kTileThreads = 256;

template <class T, bool kAct>
__global__ void __launch_bounds__(kTileThreads)
    im2row_lowp_kernel(const float* __restrict__ x, Geom32 g, int ncols, int64_t image_stride,
                       uint32_t* __restrict__ out, int64_t ld, int rows_out, const int32_t* __restrict__ rows, int R,
                       Act32 act) {
  __shared__ float tile[kTR][kTP + 1];  // (r, pixel); +1 against bank conflicts
  __shared__ int s_off[kTR], s_i[kTR], s_j[kTR];
  __shared__ float s_b[kTR];
  const int r0 = blockIdx.x * kTR, tid = threadIdx.x;
  if (tid < kTR) {
    const int r = r0 + tid;
    const int k = r < R ? (rows ? rows[r] : r) : -1;  // -1: a padding column (zeros)
    const int c = k < 0 ? 0 : k / (g.kh * g.kw);
    s_off[tid] = c * g.cs;
    s_i[tid] = k < 0 ? -(1 << 20) : (k / g.kw) % g.kh;  // out of every image: reads as padding
    s_j[tid] = k < 0 ? 0 : k % g.kw;
    s_b[tid] = kAct && k >= 0 && act.bias ? __ldg(act.bias + c) : 0.f;
  }
  const int p = tid % kTP, rr0 = tid / kTP;  // read phase: this thread's pixel, first element
  constexpr int kRStep = kTileThreads / kTP;
  const int w = tid % 32, pp0 = tid / 32;  // write phase: word w of pixels pp0, pp0 + 8, ...
  constexpr int kPStep = kTileThreads / 32;
  for (int q0 = blockIdx.y * kTP; q0 < rows_out; q0 += gridDim.y * kTP) {
    __syncthreads();  // the tables above, or the previous tile's writes, are done
    const int q = q0 + p;
    int h0 = -(1 << 20), w0 = 0;  // a pixel past ncols reads as padding
    const float* xn = x;
    if (q < ncols) {
      const int n = q / g.HW, pq = q - n * g.HW, ho = pq / g.Wo, wo = pq - ho * g.Wo;
      h0 = ho * g.sh - g.ph, w0 = wo * g.sw - g.pw, xn = x + n * image_stride;
    }
#pragma unroll 4
    for (int rr = rr0; rr < kTR; rr += kRStep) {
      const int h = h0 + s_i[rr], wc = w0 + s_j[rr];
      float v = 0.f;
      if (unsigned(h) < unsigned(g.H) && unsigned(wc) < unsigned(g.W)) {
        v = __ldg(xn + s_off[rr] + h * g.W + wc);
        if (kAct) v = apply_act(v, s_b[rr], act);
      }
      tile[rr][p] = v;
    }
    __syncthreads();
    const int64_t col = r0 + 2 * w;  // this thread's two elements
    if (col < ld) {
#pragma unroll 4
      for (int pp = pp0; pp < kTP; pp += kPStep) {
        const int qq = q0 + pp;
        if (qq >= rows_out) break;
        const float v0 = tile[2 * w][pp], v1 = tile[2 * w + 1][pp];
        uint32_t word;
        if constexpr (std::is_same_v<T, __nv_bfloat16>) {
          const __nv_bfloat162 h2 = __floats2bfloat162_rn(v0, v1);  // .x = v0 in the low half
          word = *reinterpret_cast<const uint32_t*>(&h2);
        } else {
          const __half2 h2 = __floats2half2_rn(v0, v1);
          word = *reinterpret_cast<const uint32_t*>(&h2);
        }
        out[(int64_t(qq) * ld + col) / 2] = word;
      }
    }
  }
}

}  // namespace

void im2row_lowp_cuda(Context& ctx, const float* x, const ConvGeom& g, int64_t batch, int64_t image_stride,
                      Precision p, void* out, int64_t ld, int64_t rows_out, const int32_t* rows, int64_t nrows,
                      const PendingAct* act) {
  const Act32 a32{act ? act->bias : nullptr, act ? act->relu : false, act ? act->slope : 0.f};
  const bool with_act = act && act->active();
  const Geom32 g32 = to32(g);
  const int64_t ncols = batch * g32.HW;
  const int64_t R = rows ? nrows : g.K();
  DEFTNN_CHECK(rows_out < (int64_t(1) << 31) && rows_out * ld < (int64_t(1) << 40),
               "im2row: {} rows of {} exceed the kernel's indexing", rows_out, ld);
  if (rows_out == 0 || ld == 0) return;
  const int64_t gx = (ld + kTR - 1) / kTR;  // element tiles (ld is even, kTR too: no word straddles two)
  const int64_t gy = std::clamp<int64_t>(16384 / gx, 1, std::min<int64_t>((rows_out + kTP - 1) / kTP, 65535));
  const dim3 grid{unsigned(gx), unsigned(gy)}, block{unsigned(kTileThreads)};
  auto* o = static_cast<uint32_t*>(out);
  auto launch = [&](auto kernel) {
    kernel<<<grid, block, 0, ctx.stream()>>>(x, g32, int(ncols), image_stride, o, ld, int(rows_out), rows, int(R), a32);
  };
  if (p == Precision::BF16)
    with_act ? launch(im2row_lowp_kernel<__nv_bfloat16, true>) : launch(im2row_lowp_kernel<__nv_bfloat16, false>);
  else
    with_act ? launch(im2row_lowp_kernel<__half, true>) : launch(im2row_lowp_kernel<__half, false>);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void im2col_cuda(Context& ctx, const float* x, const ConvGeom& g, int64_t batch, int64_t image_stride, float* col,
                 int64_t ldcol, const int32_t* rows, int64_t nrows, const PendingAct* act) {
  const Act32 a32{act ? act->bias : nullptr, act ? act->relu : false, act ? act->slope : 0.f};
  const bool with_act = act && act->active();
  const Geom32 g32 = to32(g);
  const int64_t ncols = batch * g32.HW;
  const int64_t R = rows ? nrows : g.K();
  DEFTNN_CHECK(ncols < (int64_t(1) << 31), "im2col: {} columns exceed int32 indexing", ncols);
  if (ncols == 0 || R == 0) return;
  const int64_t row_blocks = (R + kRowsPerBlock - 1) / kRowsPerBlock;
  const unsigned grid_y = unsigned(row_blocks < kMaxGridY ? row_blocks : kMaxGridY);
  // The 4-column kernel: interleaved for strided convolutions, consecutive
  // (16-byte stores) when the columns are aligned.
  const bool interleaved = g.sw > 1;
  if (!scalar_im2col() &&
      (interleaved || (ncols % 4 == 0 && ldcol % 4 == 0 && reinterpret_cast<uintptr_t>(col) % 16 == 0))) {
    dim3 grid4(unsigned((ncols + int64_t(kThreads) * 4 - 1) / (int64_t(kThreads) * 4)), grid_y);
    auto launch = [&](auto kernel) {
      kernel<<<grid4, kThreads, 0, ctx.stream()>>>(x, g32, int(ncols), image_stride, col, ldcol, rows, int(R), a32);
    };
    if (interleaved)
      with_act ? launch(im2col4_kernel<true, true>) : launch(im2col4_kernel<false, true>);
    else
      with_act ? launch(im2col4_kernel<true, false>) : launch(im2col4_kernel<false, false>);
    DEFTNN_CUDA_CHECK_LAUNCH();
    return;
  }
  dim3 grid(unsigned((ncols + kThreads - 1) / kThreads), unsigned(row_blocks < kMaxGridY ? row_blocks : kMaxGridY));
  if (with_act)
    im2col_kernel<true><<<grid, kThreads, 0, ctx.stream()>>>(x, g32, int(ncols), image_stride, col, ldcol, rows,
                                                             int(R), a32);
  else
    im2col_kernel<false><<<grid, kThreads, 0, ctx.stream()>>>(x, g32, int(ncols), image_stride, col, ldcol, rows,
                                                              int(R), a32);
  DEFTNN_CUDA_CHECK_LAUNCH();
}

void col2im_cuda(Context& ctx, const float* col, const ConvGeom& g, int64_t batch, int64_t image_stride,
                 int64_t ldcol, float* dx, const int32_t* rows, int64_t nrows) {
  const Geom32 g32 = to32(g);
  const int64_t ncols = batch * g32.HW;
  DEFTNN_CHECK(ncols < (int64_t(1) << 31), "col2im: {} columns exceed int32 indexing", ncols);
  if (ncols == 0) return;
  if (!rows) {
    const int64_t total = batch * g.C * g.H * g.W;
    col2im_gather_kernel<<<unsigned((total + kThreads - 1) / kThreads), kThreads, 0, ctx.stream()>>>(
        col, g32, int(batch), image_stride, ldcol, dx);
    DEFTNN_CUDA_CHECK_LAUNCH();
    return;
  }
  if (nrows == 0) return;
  dim3 grid(unsigned((ncols + kThreads - 1) / kThreads), unsigned(nrows < kMaxGridY ? nrows : kMaxGridY));
  col2im_scatter_kernel<<<grid, kThreads, 0, ctx.stream()>>>(col, g32, int(ncols), image_stride, ldcol, dx, rows,
                                                             int(nrows));
  DEFTNN_CUDA_CHECK_LAUNCH();
}

}  // namespace deftnn::detail

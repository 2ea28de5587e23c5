// Sampling geometry of RoIAlign, shared by the CPU and the CUDA kernels so that both sample
// exactly the same points with the same bilinear weights.
//
// A box (x1, y1, x2, y2) in image coordinates is scaled to the feature map and split into
// pooled_height x pooled_width bins; each bin is averaged (or max-pooled) over a regular
// grid_h x grid_w grid of bilinearly interpolated samples placed at the grid cells' centres.
// The arithmetic below is written in the same order as torchvision's and mmcv's CPU kernels
// so that results agree bit for bit in float32 and float64.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define CLIPDENSE_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define CLIPDENSE_HOST_DEVICE inline
#endif

namespace clipdense {
namespace roi_align {

template <typename T>
struct RoiGeometry {
  int batch_index;
  T start_h;  // top edge of the box on the feature map, in pixels
  T start_w;  // left edge
  T bin_h;    // height of one output bin
  T bin_w;
  int grid_h;  // samples per bin along y; 0 when the box has no height (aligned mode)
  int grid_w;
  T count;  // divisor of average pooling, at least 1 so empty bins give 0 instead of NaN
};

template <typename T>
CLIPDENSE_HOST_DEVICE T max_of(T a, T b) {
  return a > b ? a : b;
}

// `roi` points at one row (batch_index, x1, y1, x2, y2). `min_size` applies to legacy (not
// aligned) boxes only.
template <typename T>
CLIPDENSE_HOST_DEVICE RoiGeometry<T> roi_geometry(const T* roi, T spatial_scale,
                                                  int pooled_height, int pooled_width,
                                                  int sampling_ratio, bool aligned,
                                                  T min_size) {
  RoiGeometry<T> g;
  g.batch_index = static_cast<int>(roi[0]);
  // aligned: pixel i covers [i, i + 1), so its centre is at i + 0.5 and continuous box
  // coordinates are shifted by half a pixel before sampling.
  const T offset = aligned ? static_cast<T>(0.5) : static_cast<T>(0);
  g.start_w = roi[1] * spatial_scale - offset;
  g.start_h = roi[2] * spatial_scale - offset;
  const T end_w = roi[3] * spatial_scale - offset;
  const T end_h = roi[4] * spatial_scale - offset;
  T width = end_w - g.start_w;
  T height = end_h - g.start_h;
  if (!aligned) {
    // Legacy boxes are at least `min_size` pixels wide and high: 1 in Detectron v1 and mmcv, 0 in
    // TF's crop-and-resize, which samples a thinner box where it lies.
    width = max_of(width, min_size);
    height = max_of(height, min_size);
  }
  g.bin_h = height / static_cast<T>(pooled_height);
  g.bin_w = width / static_cast<T>(pooled_width);
  // Adaptive sampling: about one sample per feature-map pixel of the bin.
  g.grid_h = sampling_ratio > 0 ? sampling_ratio
                                : static_cast<int>(std::ceil(height / static_cast<T>(pooled_height)));
  g.grid_w = sampling_ratio > 0 ? sampling_ratio
                                : static_cast<int>(std::ceil(width / static_cast<T>(pooled_width)));
  const int samples = g.grid_h * g.grid_w;
  g.count = static_cast<T>(samples > 1 ? samples : 1);
  return g;
}

// Centre of sample `iy` of output row `ph` (and likewise for x with sample_x).
template <typename T>
CLIPDENSE_HOST_DEVICE T sample_y(const RoiGeometry<T>& g, int ph, int iy) {
  return g.start_h + ph * g.bin_h +
         static_cast<T>(iy + .5f) * g.bin_h / static_cast<T>(g.grid_h);
}

template <typename T>
CLIPDENSE_HOST_DEVICE T sample_x(const RoiGeometry<T>& g, int pw, int ix) {
  return g.start_w + pw * g.bin_w +
         static_cast<T>(ix + .5f) * g.bin_w / static_cast<T>(g.grid_w);
}

// The four pixels around a sample and their bilinear weights. `in_map` is false for samples
// more than one pixel outside the map: those contribute nothing (weights 0).
template <typename T>
struct Bilinear {
  bool in_map;
  int y_low, y_high, x_low, x_high;
  T w_ll, w_lh, w_hl, w_hh;  // weights of (y_low, x_low), (y_low, x_high), (y_high, x_low), ...
};

template <typename T>
CLIPDENSE_HOST_DEVICE Bilinear<T> bilinear(int height, int width, T y, T x) {
  Bilinear<T> b;
  if (y < static_cast<T>(-1) || y > static_cast<T>(height) || x < static_cast<T>(-1) ||
      x > static_cast<T>(width)) {
    b.in_map = false;
    b.y_low = b.y_high = b.x_low = b.x_high = 0;
    b.w_ll = b.w_lh = b.w_hl = b.w_hh = static_cast<T>(0);
    return b;
  }
  b.in_map = true;
  // Samples within one pixel of the border are clamped onto it (edge replication).
  if (y <= static_cast<T>(0)) y = static_cast<T>(0);
  if (x <= static_cast<T>(0)) x = static_cast<T>(0);
  b.y_low = static_cast<int>(y);
  b.x_low = static_cast<int>(x);
  if (b.y_low >= height - 1) {
    b.y_high = b.y_low = height - 1;
    y = static_cast<T>(b.y_low);
  } else {
    b.y_high = b.y_low + 1;
  }
  if (b.x_low >= width - 1) {
    b.x_high = b.x_low = width - 1;
    x = static_cast<T>(b.x_low);
  } else {
    b.x_high = b.x_low + 1;
  }
  const T ly = y - static_cast<T>(b.y_low);
  const T lx = x - static_cast<T>(b.x_low);
  const T hy = static_cast<T>(1) - ly;
  const T hx = static_cast<T>(1) - lx;
  b.w_ll = hy * hx;
  b.w_lh = hy * lx;
  b.w_hl = ly * hx;
  b.w_hh = ly * lx;
  return b;
}

// Interpolated value at a sample of one (height, width) plane.
template <typename T, typename Load>
CLIPDENSE_HOST_DEVICE T interpolate(const Bilinear<T>& b, int width, Load load) {
  return b.w_ll * load(b.y_low * width + b.x_low) + b.w_lh * load(b.y_low * width + b.x_high) +
         b.w_hl * load(b.y_high * width + b.x_low) + b.w_hh * load(b.y_high * width + b.x_high);
}

}  // namespace roi_align
}  // namespace clipdense

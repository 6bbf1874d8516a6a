// Quantize a float array to OCP E4M3 (float8_e4m3fn) with stochastic rounding.
//
// Each element draws its random word from (seed, element index, stream), so the
// codes equal those of
//     floatsim.encode(x, "e4m3fn", "stochastic", seed=seed, stream=stream)
// for a float32 array x, whatever the launch shape.
//
//   nvcc -arch=sm_90 -std=c++17 -I. example_kernel.cu -o example && ./example
#include "floatsim.cuh"

#include <cstdint>
#include <cstdio>
#include <vector>

__global__ void quantize_e4m3_sr(const float* __restrict__ x, uint8_t* __restrict__ codes,
                                 float* __restrict__ values, int64_t n, uint64_t seed,
                                 uint32_t stream) {
    constexpr floatsim::Format fmt = floatsim::Format::e4m3fn();
    // A grid-stride loop: the element index, not the thread, keys the random word.
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const uint64_t code = floatsim::encode_sr(x[i], fmt, seed, uint64_t(i), stream);
        codes[i] = uint8_t(code);  // e4m3fn has NaN, so code is never NO_CODE
        values[i] = float(floatsim::decode(code, fmt));
    }
}

#ifndef FLOATSIM_EXAMPLE_NO_MAIN
int main() {
    const int64_t n = 1 << 20;
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = 1.0f + float(i % 1000) / 1000.0f;  // in [1, 2)

    float *dx, *dv;
    uint8_t* dc;
    cudaMalloc(&dx, n * sizeof(float));
    cudaMalloc(&dv, n * sizeof(float));
    cudaMalloc(&dc, n);
    cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice);
    quantize_e4m3_sr<<<256, 256>>>(dx, dc, dv, n, /*seed=*/1234, /*stream=*/0);
    std::vector<float> v(n);
    cudaMemcpy(v.data(), dv, n * sizeof(float), cudaMemcpyDeviceToHost);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) {
        std::printf("CUDA error: %s\n", cudaGetErrorString(err));
        return 1;
    }

    // Stochastic rounding is unbiased: the mean of the quantized values tracks the input's.
    double sx = 0, sv = 0;
    for (int64_t i = 0; i < n; ++i) {
        sx += x[i];
        sv += v[i];
    }
    std::printf("mean(x) = %.6f  mean(q(x)) = %.6f\n", sx / n, sv / n);
    // The host build of the same header gives the same code for any element.
    const int64_t i = 12345;
    std::printf("element %lld: device %g, host %g\n", (long long)i, v[i],
                floatsim::quantize_sr(x[i], floatsim::Format::e4m3fn(), 1234, uint64_t(i), 0));
    cudaFree(dx);
    cudaFree(dv);
    cudaFree(dc);
    return 0;
}
#endif

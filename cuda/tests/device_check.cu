// Device translation unit for floatsim.cuh, and a self-check to run on a GPU.
//
// tests/test_cuda_header.py compiles it with `nvcc -arch=sm_90 -c` so that a
// header that would not build for Hopper fails CI.  Built into a program and run
// on a GPU, it casts a few hundred thousand inputs per format and mode on the
// device and on the host and counts the codes that differ (the host build is the
// one tested bit for bit against floatsim.reference):
//
//   nvcc -arch=sm_90 -std=c++17 cuda/tests/device_check.cu -o device_check && ./device_check
#include "../floatsim.cuh"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace fsim = floatsim;

// The format helpers are constexpr, so they fold into kernels as constants.
static_assert(fsim::Format::e4m3fn().max_mag_code() == 0x7E, "e4m3fn max is 448 = 0x7E");
static_assert(fsim::Format::e5m2().inf_mag_code() == 0x7C, "e5m2 inf is 0x7C");
static_assert(fsim::Format::e4m3fnuz().nan_code() == 0x80, "FNUZ NaN is the -0 code");
static_assert(fsim::Format::e2m1().nan_code() == -1, "e2m1 has no NaN");
static_assert(fsim::Format::e8m0().emin() == -127, "e8m0's code 0 is 2**-127");
static_assert(fsim::is_valid(fsim::Format::fp64()), "float64 fits the header's 63-bit limit");
static_assert(!fsim::p3109(8, 3).has_negzero(), "P3109 has no -0");

struct Case {
    fsim::Format fmt;
    int rounding;  // ROUND_*, or -1: seeded SR (encode_sr)
    int sr_bits;
    bool daz;
};

__global__ void cast_kernel(const double* x64, const float* x32, const uint64_t* words,
                            uint64_t* c64, uint64_t* c32, double* q64, float* q32, int n,
                            Case cs, uint64_t seed, uint32_t stream) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (cs.rounding < 0) {
        c64[i] = fsim::encode_sr(x64[i], cs.fmt, seed, uint64_t(i), stream, cs.sr_bits, cs.daz);
        c32[i] = fsim::encode_sr(x32[i], cs.fmt, seed, uint64_t(i), stream, cs.sr_bits, cs.daz);
        q64[i] = fsim::quantize_sr(x64[i], cs.fmt, seed, uint64_t(i), stream, cs.sr_bits, cs.daz);
        q32[i] = fsim::quantize_sr(x32[i], cs.fmt, seed, uint64_t(i), stream, cs.sr_bits, cs.daz);
    } else {
        c64[i] = fsim::encode(x64[i], cs.fmt, cs.rounding, words[i], 0, cs.sr_bits, cs.daz);
        c32[i] = fsim::encode(x32[i], cs.fmt, cs.rounding, words[i], 0, cs.sr_bits, cs.daz);
        q64[i] = fsim::quantize(x64[i], cs.fmt, cs.rounding, words[i], 0, cs.sr_bits, cs.daz);
        q32[i] = fsim::quantize(x32[i], cs.fmt, cs.rounding, words[i], 0, cs.sr_bits, cs.daz);
    }
}

__global__ void misc_kernel(const float* x32, uint32_t* w32, uint64_t* w64, int32_t* mx_exp,
                            uint32_t* mx_code, int n, uint64_t seed, uint32_t stream) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    w32[i] = fsim::random_word32(seed, uint64_t(i), stream);
    w64[i] = fsim::random_word64(seed, uint64_t(i), stream);
    mx_exp[i] = fsim::mx_scale_exponent_floor(x32[i], 8);
    mx_code[i] = fsim::mx_scale_e8m0_code(x32[i], 2);
}

#ifndef FLOATSIM_NO_MAIN
namespace {

uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Half of the inputs are arbitrary bit patterns (NaN, inf, subnormals included),
// half have exponents near the small formats' ranges, where the rounding happens.
void make_inputs(int n, std::vector<double>& x64, std::vector<float>& x32,
                 std::vector<uint64_t>& words) {
    uint64_t s = 42;
    x64.resize(n);
    x32.resize(n);
    words.resize(n);
    for (int i = 0; i < n; ++i) {
        uint64_t b = splitmix(s);
        uint32_t b32 = uint32_t(b >> 32);
        if (i & 1) {
            const uint64_t e = 1023 - 140 + (b % 300);
            b = (b & 0x800FFFFFFFFFFFFFull) | (e << 52);
            const uint32_t e32 = 127 - 40 + (b32 % 70);
            b32 = (b32 & 0x807FFFFFu) | (e32 << 23);
        }
        std::memcpy(&x64[i], &b, 8);
        std::memcpy(&x32[i], &b32, 4);
        words[i] = splitmix(s);
    }
}

template <typename T>
T* to_device(const std::vector<T>& v) {
    T* p = nullptr;
    cudaMalloc(&p, v.size() * sizeof(T));
    cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
    return p;
}

template <typename T>
std::vector<T> from_device(const T* p, int n) {
    std::vector<T> v(n);
    cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return v;
}

template <typename T>
bool same_bits(T a, T b) {
    return std::memcmp(&a, &b, sizeof(T)) == 0 || (a != a && b != b);  // any NaN matches NaN
}

}  // namespace

int main() {
    const int n = 1 << 18;
    const uint64_t seed = 0x0123456789ABCDEFull;
    const uint32_t stream = 3;
    std::vector<double> x64;
    std::vector<float> x32;
    std::vector<uint64_t> words;
    make_inputs(n, x64, x32, words);
    double* dx64 = to_device(x64);
    float* dx32 = to_device(x32);
    uint64_t* dwords = to_device(words);
    uint64_t *dc64, *dc32;
    double* dq64;
    float* dq32;
    cudaMalloc(&dc64, n * 8);
    cudaMalloc(&dc32, n * 8);
    cudaMalloc(&dq64, n * 8);
    cudaMalloc(&dq32, n * 4);

    using F = fsim::Format;
    fsim::Format no_subnormals = F::e5m2();
    no_subnormals.subnormals = false;
    fsim::Format saturating = F::e4m3fn();
    saturating.overflow = fsim::OVERFLOW_SATURATE;
    const fsim::Format formats[] = {F::e4m3fn(), F::e5m2(),   F::e4m3fnuz(), F::e5m2fnuz(),
                                    F::e3m4(),   F::e2m3(),   F::e3m2(),     F::e2m1(),
                                    F::e8m0(),   F::ue4m3(),  F::fp16(),     F::bf16(),
                                    F::fp32(),   F::fp64(),   fsim::p3109(8, 3),
                                    fsim::p3109(8, 1, false), no_subnormals, saturating,
                                    // signed without zero; fixed point (no exponent bits)
                                    fsim::make_format(3, 2, true, fsim::DEFAULT, false, false,
                                                      fsim::SPECIALS_FN),
                                    fsim::make_format(0, 3, true, fsim::DEFAULT, true, true,
                                                      fsim::SPECIALS_FINITE)};
    long long checked = 0, bad = 0;
    for (const fsim::Format& f : formats) {
        for (int mode = -2; mode <= 6; ++mode) {
            // mode -2: seeded k-bit SR; -1: seeded exact SR; 6: SR with explicit words.
            const Case cs{f, mode < 0 ? -1 : mode, mode == -2 ? 5 : 0, mode == 4};
            cast_kernel<<<(n + 255) / 256, 256>>>(dx64, dx32, dwords, dc64, dc32, dq64, dq32, n,
                                                  cs, seed, stream);
            const auto c64 = from_device(dc64, n), c32 = from_device(dc32, n);
            const auto q64 = from_device(dq64, n);
            const auto q32 = from_device(dq32, n);
            long long case_bad = 0;
            for (int i = 0; i < n; ++i) {
                uint64_t h64, h32;
                double hq64;
                float hq32;
                if (cs.rounding < 0) {
                    h64 = fsim::encode_sr(x64[i], f, seed, i, stream, cs.sr_bits, cs.daz);
                    h32 = fsim::encode_sr(x32[i], f, seed, i, stream, cs.sr_bits, cs.daz);
                    hq64 = fsim::quantize_sr(x64[i], f, seed, i, stream, cs.sr_bits, cs.daz);
                    hq32 = fsim::quantize_sr(x32[i], f, seed, i, stream, cs.sr_bits, cs.daz);
                } else {
                    h64 = fsim::encode(x64[i], f, cs.rounding, words[i], 0, 0, cs.daz);
                    h32 = fsim::encode(x32[i], f, cs.rounding, words[i], 0, 0, cs.daz);
                    hq64 = fsim::quantize(x64[i], f, cs.rounding, words[i], 0, 0, cs.daz);
                    hq32 = fsim::quantize(x32[i], f, cs.rounding, words[i], 0, 0, cs.daz);
                }
                const bool ok = h64 == c64[i] && h32 == c32[i] && same_bits(hq64, q64[i]) &&
                                same_bits(hq32, q32[i]);
                if (!ok && case_bad++ < 3)
                    std::printf("MISMATCH e%dm%d mode %d i %d: %llx/%llx %llx/%llx\n", f.ebits,
                                f.mbits, mode, i, (unsigned long long)h64,
                                (unsigned long long)c64[i], (unsigned long long)h32,
                                (unsigned long long)c32[i]);
            }
            checked += 4LL * n;
            bad += case_bad;
        }
    }

    uint32_t* dw32;
    uint64_t* dw64;
    int32_t* dmx;
    uint32_t* dmc;
    cudaMalloc(&dw32, n * 4);
    cudaMalloc(&dw64, n * 8);
    cudaMalloc(&dmx, n * 4);
    cudaMalloc(&dmc, n * 4);
    misc_kernel<<<(n + 255) / 256, 256>>>(dx32, dw32, dw64, dmx, dmc, n, seed, stream);
    const auto w32 = from_device(dw32, n);
    const auto w64 = from_device(dw64, n);
    const auto mx = from_device(dmx, n);
    const auto mc = from_device(dmc, n);
    for (int i = 0; i < n; ++i) {
        bad += w32[i] != fsim::random_word32(seed, i, stream);
        bad += w64[i] != fsim::random_word64(seed, i, stream);
        bad += mx[i] != fsim::mx_scale_exponent_floor(x32[i], 8);
        bad += mc[i] != fsim::mx_scale_e8m0_code(x32[i], 2);
    }
    checked += 4LL * n;
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) {
        std::printf("CUDA error: %s\n", cudaGetErrorString(err));
        return 2;
    }
    std::printf("checked %lld results, %lld device/host mismatches\n", checked, bad);
    return bad == 0 ? 0 : 1;
}
#endif

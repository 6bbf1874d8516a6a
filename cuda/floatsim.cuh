// floatsim.cuh -- header-only C++17 / CUDA reference of floatsim's cast.
//
// The same algorithm as floatsim's Python kernels and exact oracle
// (docs/semantics.md is the contract), written as __host__ __device__
// functions for users' own CUDA kernels and for RTL co-simulation (compile
// the host side into a Verilator / DPI-C test bench).  Its host build is
// tested bit for bit against floatsim.reference (tests/test_cuda_header.py).
//
// Dependencies: <cstdint> and <cstring> (memcpy for host bit casts).
// Formats up to 63 exponent+mantissa bits (float64 included) are handled;
// codes are returned in a uint64_t.
//
//   #include "floatsim.cuh"
//   const floatsim::Format f = floatsim::Format::e4m3fn();
//   uint64_t code = floatsim::encode(0.3f, f, floatsim::ROUND_NEAREST_EVEN);  // 0x2A
//   double v = floatsim::decode(code, f);                                     // 0.3125
#ifndef FLOATSIM_CUH
#define FLOATSIM_CUH

#include <cstdint>
#include <cstring>  // memcpy for host bit casts (the device uses intrinsics)

#if defined(__CUDACC__)
#define FLOATSIM_HD __host__ __device__
#else
#define FLOATSIM_HD
#endif

namespace floatsim {

// ---- enumerations (integer values are the ABI shared with floatsim.kernels) ----------

// Where a format keeps NaN / inf / -0 (floatsim.Specials).
enum : int {
    SPECIALS_IEEE = 0,    // all-ones exponent: inf (mantissa 0) and NaN (others)
    SPECIALS_FN = 1,      // NaN only at the all-ones magnitude, no inf (E4M3FN, E8M0)
    SPECIALS_FNUZ = 2,    // NaN at the negative-zero code, no inf, no -0
    SPECIALS_FINITE = 3,  // every code finite (E2M1, E3M2, E2M3)
    SPECIALS_P3109 = 4,   // NaN at -0 (signed) or all-ones (unsigned); inf below that
};

// What a finite value beyond max becomes (floatsim.Overflow).
enum : int {
    OVERFLOW_SATURATE = 0,
    OVERFLOW_INF = 1,
    OVERFLOW_NAN = 2,
};

// floatsim.Rounding's integer values.
enum : int {
    ROUND_NEAREST_EVEN = 0,
    ROUND_NEAREST_AWAY = 1,
    ROUND_TOWARD_ZERO = 2,
    ROUND_UP = 3,
    ROUND_DOWN = 4,
    ROUND_ODD = 5,
    ROUND_STOCHASTIC = 6,
};

// encode()'s result when the rule asks for NaN and the format has no NaN code
// (floatsim.encode raises ValueError there; quantize() returns NaN).
constexpr uint64_t NO_CODE = ~uint64_t(0);

// make_format()'s "derive it as floatsim.Format does" marker for bias / overflow.
constexpr int DEFAULT = -0x7fffffff;

// ---- the format ------------------------------------------------------------------------

// floatsim.Format as plain data.  Build one with a named constructor or
// make_format() so that defaults match Python; aggregate initialisation
// takes every field literally.
struct Format {
    int ebits, mbits;
    bool is_signed;
    int bias;
    bool subnormals, has_zero;
    int specials;
    int overflow;

    FLOATSIM_HD constexpr int mag_bits() const { return ebits + mbits; }
    FLOATSIM_HD constexpr int bits() const { return mag_bits() + (is_signed ? 1 : 0); }
    FLOATSIM_HD constexpr int64_t top_mag_code() const {
        return int64_t((uint64_t(1) << mag_bits()) - 1);  // up to 2**63 - 1
    }
    // NaN codes at the top of each sign's magnitude range.
    FLOATSIM_HD constexpr int64_t high_nans() const {
        return specials == SPECIALS_IEEE ? (int64_t(1) << mbits) - 1
               : (specials == SPECIALS_FN || (specials == SPECIALS_P3109 && !is_signed)) ? 1
                                                                                          : 0;
    }
    FLOATSIM_HD constexpr bool has_inf() const {
        return specials == SPECIALS_IEEE || specials == SPECIALS_P3109;
    }
    FLOATSIM_HD constexpr bool nan_at_negzero() const {
        return is_signed && (specials == SPECIALS_FNUZ || specials == SPECIALS_P3109);
    }
    FLOATSIM_HD constexpr bool has_nan() const { return high_nans() > 0 || nan_at_negzero(); }
    FLOATSIM_HD constexpr bool has_negzero() const {
        return is_signed && has_zero && !nan_at_negzero();
    }
    // Magnitude code of +inf, or -1 without infinities.
    FLOATSIM_HD constexpr int64_t inf_mag_code() const {
        return has_inf() ? top_mag_code() - high_nans() : -1;
    }
    // The largest finite magnitude: the largest code below the NaN and inf codes.
    FLOATSIM_HD constexpr int64_t max_mag_code() const {
        return top_mag_code() - high_nans() - (has_inf() ? 1 : 0);
    }
    // Canonical positive NaN code (IEEE: quiet NaN, top mantissa bit), or -1.
    FLOATSIM_HD constexpr int64_t nan_code() const {
        return nan_at_negzero()          ? int64_t(1) << mag_bits()
               : high_nans() == 0        ? -1
               : specials == SPECIALS_IEEE ? ((((int64_t(1) << ebits) - 1) << mbits) |
                                              (int64_t(1) << (mbits - 1)))
                                           : top_mag_code();
    }
    // IEEE and FN NaNs carry the input's sign; FNUZ / P3109 have a single NaN code.
    FLOATSIM_HD constexpr bool nan_signed() const {
        return is_signed && (specials == SPECIALS_IEEE || specials == SPECIALS_FN);
    }
    // Exponent of the smallest normal: without zero, exponent field 0 is a normal binade.
    FLOATSIM_HD constexpr int emin() const { return has_zero ? 1 - bias : -bias; }
    // Without zero nothing is subnormal (Format.__post_init__ forces subnormals off).
    FLOATSIM_HD constexpr bool flushes() const { return !(subnormals && has_zero); }

    // The formats of floatsim's registry (names as there; short OCP names).
    FLOATSIM_HD static constexpr Format e4m3fn();
    FLOATSIM_HD static constexpr Format e5m2();
    FLOATSIM_HD static constexpr Format e4m3fnuz();
    FLOATSIM_HD static constexpr Format e5m2fnuz();
    FLOATSIM_HD static constexpr Format e4m3b11fnuz();
    FLOATSIM_HD static constexpr Format e4m3_ieee();  // float8_e4m3 (max 240), not OCP e4m3
    FLOATSIM_HD static constexpr Format e3m4();
    FLOATSIM_HD static constexpr Format e2m3();
    FLOATSIM_HD static constexpr Format e3m2();
    FLOATSIM_HD static constexpr Format e2m1();
    FLOATSIM_HD static constexpr Format e8m0();
    FLOATSIM_HD static constexpr Format ue4m3();
    FLOATSIM_HD static constexpr Format ue5m3();
    FLOATSIM_HD static constexpr Format fp16();
    FLOATSIM_HD static constexpr Format bf16();
    FLOATSIM_HD static constexpr Format tf32();
    FLOATSIM_HD static constexpr Format fp32();
    FLOATSIM_HD static constexpr Format fp64();
};

// The overflow policy each special-value convention comes with (what ml_dtypes
// and the standards do): inf where there is inf, NaN where only NaN, else saturate.
FLOATSIM_HD constexpr int default_overflow(int specials) {
    return (specials == SPECIALS_IEEE || specials == SPECIALS_P3109) ? OVERFLOW_INF
           : (specials == SPECIALS_FN || specials == SPECIALS_FNUZ)  ? OVERFLOW_NAN
                                                                     : OVERFLOW_SATURATE;
}

// floatsim.Format(ebits=, mbits=, ...) with the same defaults: bias 2**(ebits-1)-1
// (0 without exponent bits), overflow from the specials, subnormals off without zero.
FLOATSIM_HD constexpr Format make_format(int ebits, int mbits, bool is_signed = true,
                                         int bias = DEFAULT, bool subnormals = true,
                                         bool has_zero = true, int specials = SPECIALS_IEEE,
                                         int overflow = DEFAULT) {
    return Format{ebits,
                  mbits,
                  is_signed,
                  bias != DEFAULT ? bias : (ebits ? (1 << (ebits - 1)) - 1 : 0),
                  subnormals && has_zero,
                  has_zero,
                  specials,
                  overflow != DEFAULT ? overflow : default_overflow(specials)};
}

// Whether floatsim.Format would accept these fields and the header can hold the
// codes (at most 63 exponent+mantissa bits).
FLOATSIM_HD constexpr bool is_valid(const Format& f) {
    return f.ebits >= 0 && f.ebits <= 15 && f.mbits >= 0 && f.mbits <= 52 &&
           f.mag_bits() <= 63 && f.bias >= -65536 && f.bias <= 65536 && f.specials >= 0 &&
           f.specials <= 4 && !(f.specials == SPECIALS_FNUZ && !f.is_signed) &&
           !(f.specials == SPECIALS_IEEE && (f.ebits == 0 || f.mbits == 0)) &&
           (f.has_zero || f.ebits >= 1) && !(f.subnormals && !f.has_zero) &&
           f.max_mag_code() >= (f.has_zero ? 1 : 0) &&
           (f.overflow == OVERFLOW_SATURATE || (f.overflow == OVERFLOW_INF && f.has_inf()) ||
            (f.overflow == OVERFLOW_NAN && f.has_nan()));
}

// IEEE P3109 binary{k}p{p}: precision p, signed bias 2**(k-p-1), unsigned 2**(k-p);
// extended formats add +-inf (P3109 specials), finite ones are FNUZ / FN.
FLOATSIM_HD constexpr Format p3109(int k, int p, bool is_signed = true, bool extended = true) {
    return make_format(is_signed ? k - p : k - p + 1, p - 1, is_signed,
                       is_signed ? (k - p >= 1 ? 1 << (k - p - 1) : 0) : 1 << (k - p), true,
                       true,
                       extended ? SPECIALS_P3109 : (is_signed ? SPECIALS_FNUZ : SPECIALS_FN));
}

FLOATSIM_HD constexpr Format Format::e4m3fn() {
    return make_format(4, 3, true, DEFAULT, true, true, SPECIALS_FN);
}
FLOATSIM_HD constexpr Format Format::e5m2() { return make_format(5, 2); }
// FNUZ types shift the bias by one (the freed -0 code is NaN instead of the top binade).
FLOATSIM_HD constexpr Format Format::e4m3fnuz() {
    return make_format(4, 3, true, 8, true, true, SPECIALS_FNUZ);
}
FLOATSIM_HD constexpr Format Format::e5m2fnuz() {
    return make_format(5, 2, true, 16, true, true, SPECIALS_FNUZ);
}
FLOATSIM_HD constexpr Format Format::e4m3b11fnuz() {
    return make_format(4, 3, true, 11, true, true, SPECIALS_FNUZ);
}
FLOATSIM_HD constexpr Format Format::e4m3_ieee() { return make_format(4, 3); }
FLOATSIM_HD constexpr Format Format::e3m4() { return make_format(3, 4); }
FLOATSIM_HD constexpr Format Format::e2m3() {
    return make_format(2, 3, true, DEFAULT, true, true, SPECIALS_FINITE);
}
FLOATSIM_HD constexpr Format Format::e3m2() {
    return make_format(3, 2, true, DEFAULT, true, true, SPECIALS_FINITE);
}
FLOATSIM_HD constexpr Format Format::e2m1() {
    return make_format(2, 1, true, DEFAULT, true, true, SPECIALS_FINITE);
}
FLOATSIM_HD constexpr Format Format::e8m0() {
    return make_format(8, 0, false, DEFAULT, false, false, SPECIALS_FN);
}
FLOATSIM_HD constexpr Format Format::ue4m3() {
    return make_format(4, 3, false, DEFAULT, true, true, SPECIALS_FN);
}
FLOATSIM_HD constexpr Format Format::ue5m3() {
    return make_format(5, 3, false, DEFAULT, true, true, SPECIALS_FN);
}
FLOATSIM_HD constexpr Format Format::fp16() { return make_format(5, 10); }
FLOATSIM_HD constexpr Format Format::bf16() { return make_format(8, 7); }
FLOATSIM_HD constexpr Format Format::tf32() { return make_format(8, 10); }
FLOATSIM_HD constexpr Format Format::fp32() { return make_format(8, 23); }
FLOATSIM_HD constexpr Format Format::fp64() { return make_format(11, 52); }

// ---- bit-level helpers -------------------------------------------------------------------
namespace detail {

constexpr uint64_t SIGN64 = uint64_t(1) << 63;
constexpr uint64_t INF64 = 0x7FF0000000000000ull;
constexpr uint64_t QNAN64 = 0x7FF8000000000000ull;
constexpr uint64_t FRAC52 = (uint64_t(1) << 52) - 1;

FLOATSIM_HD inline uint64_t bits_of(double x) {
#if defined(__CUDA_ARCH__)
    return static_cast<uint64_t>(__double_as_longlong(x));
#else
    uint64_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
#endif
}

FLOATSIM_HD inline double double_of(uint64_t u) {
#if defined(__CUDA_ARCH__)
    return __longlong_as_double(static_cast<long long>(u));
#else
    double x;
    std::memcpy(&x, &u, sizeof x);
    return x;
#endif
}

FLOATSIM_HD inline uint32_t bits_of(float x) {
#if defined(__CUDA_ARCH__)
    return static_cast<uint32_t>(__float_as_uint(x));
#else
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
#endif
}

// Number of leading zero bits of a nonzero word.
FLOATSIM_HD inline int clz64(uint64_t v) {
#if defined(__CUDA_ARCH__)
    return __clzll(static_cast<long long>(v));
#elif defined(__GNUC__) || defined(__clang__)
    return __builtin_clzll(v);
#else
    int n = 0;
    for (uint64_t m = SIGN64; m && !(v & m); m >>= 1) ++n;
    return n;
#endif
}

// float -> float64 bit pattern, exactly; a NaN keeps its sign (the canonical
// NaN code of IEEE / FN formats carries the input's sign).
FLOATSIM_HD inline uint64_t widen(float x) {
    const uint32_t u = bits_of(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint64_t(u >> 31) << 63) | QNAN64;
    return bits_of(static_cast<double>(x));
}

// sig * 2**ex as a double, rounded once to nearest-even (only below float64's
// normal range can it be inexact); sig < 2**53.
FLOATSIM_HD inline double scale2(uint64_t sig, int ex) {
    if (sig == 0) return 0.0;
    const int b = 64 - clz64(sig);
    const int t = ex + b - 1;  // floor(log2 value)
    if (t > 1023) return double_of(INF64);
    if (t >= -1022) return double_of((uint64_t(t + 1023) << 52) | ((sig << (53 - b)) & FRAC52));
    // A float64 subnormal is an integer multiple of 2**-1074; a carry out of the
    // fraction field lands in exponent field 1, which is exactly min_normal.
    const int s = -1074 - ex;
    if (s <= 0) return double_of(sig << -s);
    if (s >= 64) return 0.0;
    uint64_t q = sig >> s;
    const uint64_t rem = sig & ((uint64_t(1) << s) - 1), half = uint64_t(1) << (s - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return double_of(q);
}

// The canonical NaN code, or NO_CODE for a format without NaN.
FLOATSIM_HD inline uint64_t nan_result(const Format& f, bool neg) {
    const int64_t c = f.nan_code();
    if (c < 0) return NO_CODE;
    return uint64_t(c) | ((neg && f.nan_signed()) ? uint64_t(1) << f.mag_bits() : 0);
}

// frac = rem / 2**shift (shift >= 1) against 1/2: -1 below, 0 a tie, 1 above.
FLOATSIM_HD inline int cmp_half(uint64_t rem, int shift) {
    if (shift > 64) return -1;  // rem < 2**53 <= 2**(shift-1)
    const uint64_t half = uint64_t(1) << (shift - 1);
    return rem > half ? 1 : (rem == half ? 0 : -1);
}

// ceil(frac * 2**W) for frac = rem / 2**shift in (0, 1), 1 <= W <= 64.
// r < frac * 2**W holds for an integer r exactly when r < ceil(frac * 2**W).
FLOATSIM_HD inline uint64_t ceil_scaled(uint64_t rem, int shift, int w) {
    if (shift <= w) return rem << (w - shift);  // < 2**W: rem < 2**shift
    const int d = shift - w;
    if (d >= 64) return 1;  // 0 < rem < 2**53: a sliver above zero
    // Cannot wrap: W = 64 has rem >> d < 2**53, W = 32 gives at most 2**32.
    return (rem >> d) + ((rem & ((uint64_t(1) << d) - 1)) != 0);
}

// floor(frac * 2**k): the top k discarded bits that k-bit SR keeps.
FLOATSIM_HD inline uint64_t floor_scaled(uint64_t rem, int shift, int k) {
    if (shift <= k) return rem << (k - shift);
    const int d = shift - k;
    return d >= 64 ? 0 : rem >> d;
}

// Whether to round the magnitude away from zero (semantics.md, rule 6's table).
// Called only for inexact x (rem != 0, shift >= 1).  ``odd``: parity of the code
// of the truncated value.
FLOATSIM_HD inline bool round_up(int rounding, uint64_t rem, int shift, bool odd, bool neg,
                                 uint64_t r, int w, int k) {
    switch (rounding) {
        case ROUND_NEAREST_AWAY: return cmp_half(rem, shift) >= 0;
        case ROUND_TOWARD_ZERO: return false;
        case ROUND_UP: return !neg;
        case ROUND_DOWN: return neg;
        case ROUND_ODD: return !odd;
        case ROUND_STOCHASTIC:
            if (k > 0) {
                // Hardware SR: keep k discarded bits, add k random bits, carry out = up.
                const uint64_t mask = (uint64_t(1) << k) - 1;
                return floor_scaled(rem, shift, k) + (r & mask) > mask;
            } else {
                const uint64_t wr = w >= 64 ? r : r & ((uint64_t(1) << w) - 1);
                return wr < ceil_scaled(rem, shift, w);
            }
        default: {  // ROUND_NEAREST_EVEN (and anything unknown)
            const int c = cmp_half(rem, shift);
            return c > 0 || (c == 0 && odd);
        }
    }
}

// The cast of one float64 bit pattern ``u`` (denormals-are-zero already applied).
FLOATSIM_HD inline uint64_t encode_bits(uint64_t u, const Format& f, int rounding, uint64_t r,
                                        int w, int k) {
    const bool neg = (u >> 63) != 0;
    const uint64_t a = u & ~SIGN64;
    const int M = f.mbits;
    const uint64_t sign_bit = f.is_signed ? uint64_t(1) << f.mag_bits() : 0;
    const uint64_t max_mag = uint64_t(f.max_mag_code());

    // Rule 1: NaN.
    if (a > INF64) return nan_result(f, neg);
    // Rule 3: unsigned formats have no negative values; -0 is +0.
    if (!f.is_signed && neg && a != 0) {
        if (f.has_nan()) return nan_result(f, false);
        return f.has_zero ? 0 : NO_CODE;
    }
    const bool sneg = f.is_signed && neg;
    // Rule 4: zero keeps its sign only where -0 exists; without zero it is NaN.
    if (a == 0) {
        if (!f.has_zero) return nan_result(f, sneg);
        return (sneg && f.has_negzero()) ? sign_bit : 0;
    }
    // Rule 5: inf stays inf unless the format lacks it or the policy saturates.
    if (a == INF64) {
        if (f.has_inf() && f.overflow != OVERFLOW_SATURATE)
            return uint64_t(f.inf_mag_code()) | (sneg ? sign_bit : 0);
        if (f.overflow == OVERFLOW_NAN) return nan_result(f, sneg);
        return max_mag | (sneg ? sign_bit : 0);
    }

    // Rule 6: |x| = sig * 2**exp exactly; e = floor(log2 |x|).
    const uint64_t ef = a >> 52;
    const uint64_t sig = ef ? (a & FRAC52) | (uint64_t(1) << 52) : a;
    const int exp = ef ? int(ef) - 1075 : -1074;
    const int e = exp + 63 - clz64(sig);
    const int emin = f.emin();

    uint64_t code = 0;
    bool overflowed = false;
    if (!f.has_zero && e < emin) {
        code = 0;  // below the smallest value of a zero-less format: that value, in every mode
    } else if (int64_t(e) - emin >= (int64_t(1) << f.ebits)) {
        overflowed = true;  // |x| >= 2**(emax+1): above max whatever the rounding
    } else {
        // q = 2**(max(e, emin) - M) is the spacing at x; shift = bits of sig below q.
        const int shift = (e < emin ? emin : e) - M - exp;
        uint64_t lo, rem;
        if (shift <= 0) {
            lo = sig << -shift;  // exact; -shift <= M, so lo < 2**(M+1)
            rem = 0;
        } else if (shift >= 64) {
            lo = 0;
            rem = sig;
        } else {
            lo = sig >> shift;
            rem = sig & ((uint64_t(1) << shift) - 1);
        }
        // The magnitude code of lo*q, binades continued past max: below 2**emin it is
        // lo (subnormal); above, exponent field e - emin + 1 (with zero) or e - emin
        // (without), plus lo's mantissa bits.  Its parity decides ties for every M,
        // including M == 0 where it is the exponent field's.
        const uint64_t lo_code =
            e < emin ? lo
                     : (uint64_t(e - emin) << M) + lo - (f.has_zero ? 0 : uint64_t(1) << M);
        const bool up = rem != 0 && round_up(rounding, rem, shift, (lo_code & 1) != 0, neg, r, w, k);
        code = lo_code + (up ? 1 : 0);
        overflowed = code > max_mag;
    }

    // Rule 7: IEEE 754's direction rule first, then the policy.
    if (overflowed) {
        const bool toward_zero = rounding == ROUND_TOWARD_ZERO || rounding == ROUND_ODD ||
                                 (rounding == ROUND_DOWN && !neg) || (rounding == ROUND_UP && neg);
        if (toward_zero || f.overflow == OVERFLOW_SATURATE) {
            code = max_mag;
        } else if (f.overflow == OVERFLOW_INF && f.has_inf()) {
            code = uint64_t(f.inf_mag_code());
        } else if (f.overflow == OVERFLOW_NAN) {
            return nan_result(f, sneg);
        } else {
            code = max_mag;  // an invalid policy (inf without inf): saturate
        }
    }
    // Rule 8: flush to zero judges the rounded result, not x.
    if (f.flushes() && f.has_zero && code < (uint64_t(1) << M)) code = 0;
    // Rule 9: the sign, also on a zero result where -0 exists (not FNUZ / P3109).
    // Without zero, magnitude code 0 is the smallest value and keeps its sign.
    if (sneg && (code != 0 || !f.has_zero || f.has_negzero())) code |= sign_bit;
    return code;
}

}  // namespace detail

// ---- public cast API ---------------------------------------------------------------------

// The code of x in format f (docs/semantics.md).
//   rounding:      ROUND_* (floatsim.Rounding's integer value).
//   random_word:   r for ROUND_STOCHASTIC; exact SR reads its low random_width bits,
//                  k-bit SR its low sr_bits bits.
//   random_width:  W of exact SR (1..64); 0 picks the contract's width for the input:
//                  64 for double, 32 for float.
//   sr_bits:       k (1..32) for k-bit SR; 0 for exact SR.
//   daz:           inputs subnormal in their own type become zeros of their sign.
// Returns NO_CODE where the result is NaN and f has no NaN.
FLOATSIM_HD inline uint64_t encode(double x, const Format& f, int rounding = ROUND_NEAREST_EVEN,
                                   uint64_t random_word = 0, int random_width = 0,
                                   int sr_bits = 0, bool daz = false) {
    uint64_t u = detail::bits_of(x);
    if (daz && (u & 0x7FF0000000000000ull) == 0) u &= detail::SIGN64;
    return detail::encode_bits(u, f, rounding, random_word, random_width ? random_width : 64,
                               sr_bits);
}

// float input: converted to double exactly, so the cast still rounds once; W = 32 by
// default, and daz judges subnormality as a float.
FLOATSIM_HD inline uint64_t encode(float x, const Format& f, int rounding = ROUND_NEAREST_EVEN,
                                   uint64_t random_word = 0, int random_width = 0,
                                   int sr_bits = 0, bool daz = false) {
    uint64_t u = detail::widen(x);
    if (daz && (detail::bits_of(x) & 0x7F800000u) == 0) u &= detail::SIGN64;
    return detail::encode_bits(u, f, rounding, random_word, random_width ? random_width : 32,
                               sr_bits);
}

// The value of a code (NaN for NaN codes and NO_CODE); bits above f.bits() are ignored.
// Exact wherever the value is a float64; otherwise rounded once to nearest-even.
FLOATSIM_HD inline double decode(uint64_t code, const Format& f) {
    const double nan = detail::double_of(detail::QNAN64);
    if (code == NO_CODE) return nan;
    const int M = f.mbits, mb = f.mag_bits();
    const uint64_t mag = code & uint64_t(f.top_mag_code());
    const bool neg = f.is_signed && ((code >> mb) & 1);
    if (neg && mag == 0 && f.nan_at_negzero()) return nan;
    if (mag > uint64_t(f.top_mag_code() - f.high_nans())) return neg ? -nan : nan;
    if (int64_t(mag) == f.inf_mag_code()) {
        const double inf = detail::double_of(detail::INF64);
        return neg ? -inf : inf;
    }
    const uint64_t efield = mag >> M, mfield = mag & ((uint64_t(1) << M) - 1);
    double v;
    if (efield == 0 && f.has_zero)
        v = detail::scale2(mfield, f.emin() - M);
    else
        v = detail::scale2(mfield | (uint64_t(1) << M), int(efield) - f.bias - M);
    return neg ? -v : v;
}

// The value x rounds to (fake quantization); NaN where the result is NaN, also in
// formats without NaN.
FLOATSIM_HD inline double quantize(double x, const Format& f, int rounding = ROUND_NEAREST_EVEN,
                                   uint64_t random_word = 0, int random_width = 0,
                                   int sr_bits = 0, bool daz = false) {
    return decode(encode(x, f, rounding, random_word, random_width, sr_bits, daz), f);
}

// float in, float out: exact when every value of f is a float (floatsim.quantize
// refuses other output dtypes); otherwise the double result is rounded to float.
FLOATSIM_HD inline float quantize(float x, const Format& f, int rounding = ROUND_NEAREST_EVEN,
                                  uint64_t random_word = 0, int random_width = 0,
                                  int sr_bits = 0, bool daz = false) {
    return static_cast<float>(
        decode(encode(x, f, rounding, random_word, random_width, sr_bits, daz), f));
}

// ---- counter-based random bits (docs/semantics.md, "Random bits") --------------------------

// Philox-4x32-10 (Salmon et al., SC'11), as the Random123 reference computes it.
FLOATSIM_HD inline void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                                      uint32_t out[4]) {
    uint32_t x0 = ctr[0], x1 = ctr[1], x2 = ctr[2], x3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int i = 0; i < 10; ++i) {
        const uint64_t p0 = uint64_t(0xD2511F53u) * x0;
        const uint64_t p1 = uint64_t(0xCD9E8D57u) * x2;
        const uint32_t y0 = uint32_t(p1 >> 32) ^ x1 ^ k0;
        const uint32_t y2 = uint32_t(p0 >> 32) ^ x3 ^ k1;
        x1 = uint32_t(p1);
        x3 = uint32_t(p0);
        x0 = y0;
        x2 = y2;
        k0 += 0x9E3779B9u;  // Weyl key schedule: golden ratio, sqrt(3) - 1
        k1 += 0xBB67AE85u;
    }
    out[0] = x0;
    out[1] = x1;
    out[2] = x2;
    out[3] = x3;
}

// The 32-bit word of element ``index`` (flat C-order index of the logical array)
// in stream ``stream``: four elements share one Philox block, counter word 3 is 0.
FLOATSIM_HD inline uint32_t random_word32(uint64_t seed, uint64_t index, uint32_t stream = 0) {
    const uint64_t j = index >> 2;
    const uint32_t ctr[4] = {uint32_t(j), uint32_t(j >> 32), stream, 0u};
    const uint32_t key[2] = {uint32_t(seed), uint32_t(seed >> 32)};
    uint32_t out[4];
    philox4x32_10(ctr, key, out);
    return out[index & 3];
}

// The 64-bit word: two elements per block (low half first), counter word 3 is 1
// so that these never reuse a block of the 32-bit sequence.
FLOATSIM_HD inline uint64_t random_word64(uint64_t seed, uint64_t index, uint32_t stream = 0) {
    const uint64_t j = index >> 1;
    const uint32_t ctr[4] = {uint32_t(j), uint32_t(j >> 32), stream, 1u};
    const uint32_t key[2] = {uint32_t(seed), uint32_t(seed >> 32)};
    uint32_t out[4];
    philox4x32_10(ctr, key, out);
    const int lane = int(index & 1) * 2;
    return (uint64_t(out[lane + 1]) << 32) | out[lane];
}

// Seeded stochastic rounding of element ``index``, drawing the words floatsim.encode(...,
// seed=, stream=) draws: exact SR of a double takes a 64-bit word; everything else
// (float input, and k-bit SR of either) a 32-bit word, of which k-bit SR uses the low k bits.
FLOATSIM_HD inline uint64_t encode_sr(double x, const Format& f, uint64_t seed, uint64_t index,
                                      uint32_t stream = 0, int sr_bits = 0, bool daz = false) {
    if (sr_bits > 0)
        return encode(x, f, ROUND_STOCHASTIC, random_word32(seed, index, stream), 32, sr_bits,
                      daz);
    return encode(x, f, ROUND_STOCHASTIC, random_word64(seed, index, stream), 64, sr_bits, daz);
}
FLOATSIM_HD inline uint64_t encode_sr(float x, const Format& f, uint64_t seed, uint64_t index,
                                      uint32_t stream = 0, int sr_bits = 0, bool daz = false) {
    return encode(x, f, ROUND_STOCHASTIC, random_word32(seed, index, stream), 32, sr_bits, daz);
}
FLOATSIM_HD inline double quantize_sr(double x, const Format& f, uint64_t seed, uint64_t index,
                                      uint32_t stream = 0, int sr_bits = 0, bool daz = false) {
    return decode(encode_sr(x, f, seed, index, stream, sr_bits, daz), f);
}
FLOATSIM_HD inline float quantize_sr(float x, const Format& f, uint64_t seed, uint64_t index,
                                     uint32_t stream = 0, int sr_bits = 0, bool daz = false) {
    return static_cast<float>(decode(encode_sr(x, f, seed, index, stream, sr_bits, daz), f));
}

// ---- MX block scales (OCP MX v1.0, section 6.3) ---------------------------------------------

constexpr int32_t MX_EXP_NEG_INF = INT32_MIN;  // amax == 0: floor(log2 0)
constexpr int32_t MX_EXP_NOT_FINITE = INT32_MAX;  // amax inf or NaN

// The shared exponent floor(log2(amax)) - elem_emax, exactly from amax's bits
// (float subnormals included; the sign of amax is ignored).  elem_emax is the
// element format's emax (e4m3fn 8, e5m2 15, e3m2 4, e2m3 2, e2m1 2).
FLOATSIM_HD inline int32_t mx_scale_exponent_floor(float amax, int elem_emax) {
    const uint32_t a = detail::bits_of(amax) & 0x7FFFFFFFu;
    if (a >= 0x7F800000u) return MX_EXP_NOT_FINITE;
    if (a == 0) return MX_EXP_NEG_INF;
    const uint32_t ef = a >> 23;
    const int e = ef ? int(ef) - 127 : -149 + 63 - detail::clz64(a);
    return e - elem_emax;
}

// The E8M0 scale code of a block: the shared exponent plus the bias 127, clamped to
// the finite codes [0, 254] (an all-zero block gets 2**-127; a finite float amax
// never needs more than 254).  A NaN or infinite amax gives 255 (E8M0's NaN): no
// finite scale brings such a block into range.
FLOATSIM_HD inline uint32_t mx_scale_e8m0_code(float amax, int elem_emax) {
    const int32_t s = mx_scale_exponent_floor(amax, elem_emax);
    if (s == MX_EXP_NOT_FINITE) return 255u;
    if (s == MX_EXP_NEG_INF || s < -127) return 0u;
    return s > 127 ? 254u : uint32_t(s + 127);
}

}  // namespace floatsim

#endif  // FLOATSIM_CUH

// Host driver for tests/test_cuda_header.py: runs floatsim.cuh on files of inputs
// so that Python can compare its codes with floatsim.reference bit for bit.
//
//   host_driver encode key=value...   cast a file of float32/float64 inputs
//   host_driver words seed= stream= n= [start=] out32= out64=
//                                     random_word32/64 of indices start..start+n-1
//   host_driver philox c0 c1 c2 c3 k0 k1   (hex words) -> four hex words
//   host_driver mx in= emax= out_exp= out_code=   MX scale of each float32 amax
//   host_driver formats                one line of derived fields per named format
//
// encode keys: in, dtype (f32|f64), ebits, mbits, signed, bias, subnormals, has_zero,
// specials, overflow (integers as in floatsim.cuh), rounding, daz, sr_bits,
// random (explicit|seed|none), rand (file of uint64 words, for explicit), width
// (W; 0 = the input's default), seed, stream, out_codes (uint64), out_values (float64).
#include "../floatsim.cuh"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using Args = std::map<std::string, std::string>;

Args parse(int argc, char** argv, int first) {
    Args a;
    for (int i = first; i < argc; ++i) {
        const char* eq = std::strchr(argv[i], '=');
        if (!eq) {
            std::fprintf(stderr, "argument %s is not key=value\n", argv[i]);
            std::exit(2);
        }
        a[std::string(argv[i], size_t(eq - argv[i]))] = eq + 1;
    }
    return a;
}

const std::string& need(const Args& a, const char* key) {
    auto it = a.find(key);
    if (it == a.end()) {
        std::fprintf(stderr, "missing argument %s=\n", key);
        std::exit(2);
    }
    return it->second;
}

long long num(const Args& a, const char* key, long long dflt) {
    auto it = a.find(key);
    return it == a.end() ? dflt : std::strtoll(it->second.c_str(), nullptr, 0);
}

unsigned long long unum(const Args& a, const char* key) {
    return std::strtoull(need(a, key).c_str(), nullptr, 0);
}

template <typename T>
std::vector<T> read_file(const std::string& path) {
    std::FILE* fp = std::fopen(path.c_str(), "rb");
    if (!fp) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::fseek(fp, 0, SEEK_END);
    const long size = std::ftell(fp);
    std::fseek(fp, 0, SEEK_SET);
    std::vector<T> v(size_t(size) / sizeof(T));
    if (!v.empty() && std::fread(v.data(), sizeof(T), v.size(), fp) != v.size()) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::fclose(fp);
    return v;
}

template <typename T>
void write_file(const std::string& path, const std::vector<T>& v) {
    std::FILE* fp = std::fopen(path.c_str(), "wb");
    if (!fp || (!v.empty() && std::fwrite(v.data(), sizeof(T), v.size(), fp) != v.size())) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::fclose(fp);
}

template <typename T>
int run_encode(const Args& a, const floatsim::Format& f) {
    const std::vector<T> x = read_file<T>(need(a, "in"));
    const int rounding = int(num(a, "rounding", 0));
    const int sr_bits = int(num(a, "sr_bits", 0));
    const int width = int(num(a, "width", 0));
    const bool daz = num(a, "daz", 0) != 0;
    const std::string random = a.count("random") ? a.at("random") : "none";
    std::vector<uint64_t> words;
    if (random == "explicit") {
        words = read_file<uint64_t>(need(a, "rand"));
        if (words.size() != x.size()) {
            std::fprintf(stderr, "rand has %zu words for %zu inputs\n", words.size(), x.size());
            return 2;
        }
    }
    const uint64_t seed = random == "seed" ? unum(a, "seed") : 0;
    const uint32_t stream = uint32_t(num(a, "stream", 0));
    std::vector<uint64_t> codes(x.size());
    std::vector<double> values(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        if (random == "seed") {
            codes[i] = floatsim::encode_sr(x[i], f, seed, i, stream, sr_bits, daz);
            values[i] = double(floatsim::quantize_sr(x[i], f, seed, i, stream, sr_bits, daz));
        } else {
            const uint64_t r = random == "explicit" ? words[i] : 0;
            codes[i] = floatsim::encode(x[i], f, rounding, r, width, sr_bits, daz);
            values[i] = double(floatsim::quantize(x[i], f, rounding, r, width, sr_bits, daz));
        }
    }
    write_file(need(a, "out_codes"), codes);
    write_file(need(a, "out_values"), values);
    return 0;
}

int cmd_encode(const Args& a) {
    const floatsim::Format f{int(num(a, "ebits", -1)), int(num(a, "mbits", -1)),
                             num(a, "signed", 1) != 0, int(num(a, "bias", 0)),
                             num(a, "subnormals", 1) != 0, num(a, "has_zero", 1) != 0,
                             int(num(a, "specials", 0)), int(num(a, "overflow", 0))};
    if (!floatsim::is_valid(f)) {
        std::fprintf(stderr, "invalid format\n");
        return 2;
    }
    return need(a, "dtype") == "f32" ? run_encode<float>(a, f) : run_encode<double>(a, f);
}

int cmd_words(const Args& a) {
    const uint64_t seed = unum(a, "seed");
    const uint32_t stream = uint32_t(unum(a, "stream"));
    const size_t n = size_t(unum(a, "n"));
    const uint64_t start = a.count("start") ? unum(a, "start") : 0;
    std::vector<uint32_t> w32(n);
    std::vector<uint64_t> w64(n);
    for (size_t i = 0; i < n; ++i) {
        w32[i] = floatsim::random_word32(seed, start + i, stream);
        w64[i] = floatsim::random_word64(seed, start + i, stream);
    }
    write_file(need(a, "out32"), w32);
    write_file(need(a, "out64"), w64);
    return 0;
}

int cmd_philox(int argc, char** argv) {
    if (argc != 8) {
        std::fprintf(stderr, "philox needs c0 c1 c2 c3 k0 k1\n");
        return 2;
    }
    uint32_t ctr[4], key[2], out[4];
    for (int i = 0; i < 4; ++i) ctr[i] = uint32_t(std::strtoul(argv[2 + i], nullptr, 16));
    for (int i = 0; i < 2; ++i) key[i] = uint32_t(std::strtoul(argv[6 + i], nullptr, 16));
    floatsim::philox4x32_10(ctr, key, out);
    std::printf("%08x %08x %08x %08x\n", out[0], out[1], out[2], out[3]);
    return 0;
}

int cmd_mx(const Args& a) {
    const std::vector<float> amax = read_file<float>(need(a, "in"));
    const int emax = int(num(a, "emax", 0));
    std::vector<int32_t> ex(amax.size());
    std::vector<uint32_t> code(amax.size());
    for (size_t i = 0; i < amax.size(); ++i) {
        ex[i] = floatsim::mx_scale_exponent_floor(amax[i], emax);
        code[i] = floatsim::mx_scale_e8m0_code(amax[i], emax);
    }
    write_file(need(a, "out_exp"), ex);
    write_file(need(a, "out_code"), code);
    return 0;
}

void print_format(const char* name, const floatsim::Format& f) {
    std::printf("%s %d %d %d %d %d %d %d %d %lld %lld %lld %d %d %d %d %d\n", name, f.ebits,
                f.mbits, int(f.is_signed), f.bias, int(f.subnormals), int(f.has_zero),
                f.specials, f.overflow, (long long)f.max_mag_code(), (long long)f.inf_mag_code(),
                (long long)f.nan_code(), int(f.has_negzero()), int(f.has_nan()),
                int(f.has_inf()), f.emin(), int(floatsim::is_valid(f)));
}

int cmd_formats() {
    using F = floatsim::Format;
    print_format("float8_e4m3fn", F::e4m3fn());
    print_format("float8_e5m2", F::e5m2());
    print_format("float8_e4m3fnuz", F::e4m3fnuz());
    print_format("float8_e5m2fnuz", F::e5m2fnuz());
    print_format("float8_e4m3b11fnuz", F::e4m3b11fnuz());
    print_format("float8_e4m3", F::e4m3_ieee());
    print_format("float8_e3m4", F::e3m4());
    print_format("float6_e2m3fn", F::e2m3());
    print_format("float6_e3m2fn", F::e3m2());
    print_format("float4_e2m1fn", F::e2m1());
    print_format("float8_e8m0fnu", F::e8m0());
    print_format("ue4m3", F::ue4m3());
    print_format("float8_e5m3fnu", F::ue5m3());
    print_format("float16", F::fp16());
    print_format("bfloat16", F::bf16());
    print_format("tf32", F::tf32());
    print_format("float32", F::fp32());
    print_format("float64", F::fp64());
    print_format("p3109_k8p3se", floatsim::p3109(8, 3));
    print_format("p3109_k8p1se", floatsim::p3109(8, 1));
    print_format("p3109_k8p4sf", floatsim::p3109(8, 4, true, false));
    print_format("p3109_k8p3ue", floatsim::p3109(8, 3, false, true));
    print_format("p3109_k8p1uf", floatsim::p3109(8, 1, false, false));
    print_format("p3109_k6p2se", floatsim::p3109(6, 2));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: host_driver encode|words|philox|mx|formats ...\n");
        return 2;
    }
    const std::string cmd = argv[1];
    if (cmd == "encode") return cmd_encode(parse(argc, argv, 2));
    if (cmd == "words") return cmd_words(parse(argc, argv, 2));
    if (cmd == "philox") return cmd_philox(argc, argv);
    if (cmd == "mx") return cmd_mx(parse(argc, argv, 2));
    if (cmd == "formats") return cmd_formats();
    std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
    return 2;
}

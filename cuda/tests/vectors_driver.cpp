// A C++ harness for floatsim golden vectors: reads a .hex vectors file (as a
// Verilog test bench would, one case a line, `//` comments skipped), runs
// floatsim.cuh on each case and writes the results as hex lines that
// `floatsim check VECTORS RESULTS` reads.  tests/test_vectors_cuh.py drives it.
//
//   vectors_driver in=FILE out=FILE op=convert|decode
//       convert: src=f32|f64|bf16|f16|code [src format fields prefixed s_]
//                ebits= mbits= signed= bias= subnormals= has_zero= specials= overflow=
//                rounding= sr_bits= width= (W of exact SR) rdigits= (hex digits of r, 0: none)
//       decode:  the format fields, out=f32|f64 as dst=
//
// Fields of a line (docs/vectors.md): x [, r], y for convert; c, v for decode;
// every field takes ceil(bits/4) hex digits, most significant first.
#include "../floatsim.cuh"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace {

using Args = std::map<std::string, std::string>;

long long num(const Args& a, const std::string& key, long long dflt) {
    auto it = a.find(key);
    return it == a.end() ? dflt : std::strtoll(it->second.c_str(), nullptr, 0);
}

const char* str(const Args& a, const std::string& key) {
    auto it = a.find(key);
    if (it == a.end()) {
        std::fprintf(stderr, "missing argument %s=\n", key.c_str());
        std::exit(2);
    }
    return it->second.c_str();
}

floatsim::Format format_from(const Args& a, const std::string& p) {
    return floatsim::Format{int(num(a, p + "ebits", 0)), int(num(a, p + "mbits", 0)),
                            num(a, p + "signed", 1) != 0, int(num(a, p + "bias", 0)),
                            num(a, p + "subnormals", 1) != 0, num(a, p + "has_zero", 1) != 0,
                            int(num(a, p + "specials", 0)), int(num(a, p + "overflow", 0))};
}

uint64_t hex_field(const char*& p, int digits) {
    uint64_t v = 0;
    for (int i = 0; i < digits; ++i, ++p) {
        const char c = *p;
        const int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        v = (v << 4) | uint64_t(d);
    }
    return v;
}

double bits_to_double(uint64_t u) {
    double d;
    std::memcpy(&d, &u, sizeof d);
    return d;
}

float bits_to_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const char* eq = std::strchr(argv[i], '=');
        if (!eq) {
            std::fprintf(stderr, "argument %s is not key=value\n", argv[i]);
            return 2;
        }
        a[std::string(argv[i], size_t(eq - argv[i]))] = eq + 1;
    }
    std::FILE* in = std::fopen(str(a, "in"), "r");
    std::FILE* out = std::fopen(str(a, "out"), "w");
    if (!in || !out) {
        std::perror("vectors_driver");
        return 1;
    }
    const std::string op = str(a, "op");
    const floatsim::Format f = format_from(a, "");
    const int ydigits = (f.bits() + 3) / 4;
    char line[4096];
    while (std::fgets(line, sizeof line, in)) {
        if (line[0] == '/' || line[0] == '\n' || line[0] == '\r') continue;
        const char* p = line;
        if (op == "decode") {
            const uint64_t c = hex_field(p, ydigits);
            const double v = floatsim::decode(c, f);
            if (std::string(str(a, "dst")) == "f32") {
                const float g = float(v);  // exact: the format fits float32
                uint32_t u;
                std::memcpy(&u, &g, sizeof u);
                std::fprintf(out, "%08x\n", u);
            } else {
                uint64_t u;
                std::memcpy(&u, &v, sizeof u);
                std::fprintf(out, "%016llx\n", static_cast<unsigned long long>(u));
            }
            continue;
        }
        const std::string src = str(a, "src");
        const int rounding = int(num(a, "rounding", 0));
        const int sr_bits = int(num(a, "sr_bits", 0));
        const int width = int(num(a, "width", 0));
        const int rdigits = int(num(a, "rdigits", 0));
        uint64_t code;
        if (src == "f32") {
            const float x = bits_to_float(uint32_t(hex_field(p, 8)));
            const uint64_t r = rdigits ? hex_field(p, rdigits) : 0;
            code = floatsim::encode(x, f, rounding, r, width, sr_bits);
        } else {
            double x;
            if (src == "f64") {
                x = bits_to_double(hex_field(p, 16));
            } else if (src == "bf16") {  // a bfloat16 is the top half of a float32
                x = double(bits_to_float(uint32_t(hex_field(p, 4)) << 16));
            } else {  // f16, or a code of another format: its exact value
                const floatsim::Format s =
                    src == "f16" ? floatsim::Format::fp16() : format_from(a, "s_");
                x = floatsim::decode(hex_field(p, (s.bits() + 3) / 4), s);
            }
            const uint64_t r = rdigits ? hex_field(p, rdigits) : 0;
            code = floatsim::encode(x, f, rounding, r, width, sr_bits);
        }
        std::fprintf(out, "%0*llx\n", ydigits, static_cast<unsigned long long>(code));
    }
    std::fclose(in);
    std::fclose(out);
    return 0;
}

// f32_to_e4m3: float32 -> OCP FP8 E4M3 (E4M3FN: bias 7, largest 448, NaN S.1111.111, no
// infinity), round to nearest even, saturating like PTX cvt.rn.satfinite.e4m3x2.f32:
// |x| > 448 and +-inf give +-448, NaN gives S.1111.111 with the input's sign, results that
// round to zero keep the input's sign (-0).
//
// One combinational block, no loops: synthesizable.  The arithmetic, with sig the 24-bit
// significand of a normal input: E4M3's spacing at x is 2^(max(e, -6) - 3), so `shift`
// = 20 low bits of sig are dropped in E4M3's normal range and one more per binade below
// 2^-6 (at most 25: then everything is below half a step).  The magnitude code is
// (exponent field base << 3) + kept + round-up, a carry out of the fraction moving into
// the exponent field by itself.  float32 subnormals lie far below E4M3's smallest half
// step (2^-10) and round to zero.
//
// PLANTED_BUG selects a deliberate mistake, for tests/test_vectors_rtl.py to find:
//   0  none
//   1  ties round away from zero (the round-half-to-even test written as rem >= half)
//   2  results below 2^-6 are flushed to zero (no subnormals)
//   3  a zero result loses its sign (-0 becomes +0)
`timescale 1ns / 1ps
module f32_to_e4m3 #(parameter PLANTED_BUG = 0) (
    input  wire [31:0] x,
    output reg  [7:0]  y
);
    wire        sign  = x[31];
    wire [7:0]  ef    = x[30:23];
    wire [22:0] mf    = x[22:0];
    wire [23:0] sig   = {1'b1, mf};
    // binades below E4M3's smallest normal 2^-6 (float32 exponent field 121)
    wire [7:0]  below = (ef >= 8'd121) ? 8'd0 : 8'd121 - ef;
    wire [4:0]  shift = (below > 8'd5) ? 5'd25 : 5'd20 + {2'b00, below[2:0]};
    wire [23:0] kept  = sig >> shift;
    wire [24:0] rem   = {1'b0, sig} & ((25'd1 << shift) - 25'd1);
    wire [24:0] half  = 25'd1 << (shift - 5'd1);
    wire        up    = (PLANTED_BUG == 1) ? (rem >= half)
                                           : ((rem > half) || (rem == half && kept[0]));
    wire [7:0]  ebase = (ef >= 8'd121) ? ef - 8'd121 : 8'd0;
    wire [12:0] code  = {2'b00, ebase, 3'b000} + kept[12:0] + {12'd0, up};
    wire        over  = (ef > 8'd135) || (code > 13'd126);   // 0x7F is NaN: 480 and up

    always @* begin
        if (ef == 8'hFF)
            y = {sign, (mf != 23'd0) ? 7'h7F : 7'h7E};       // NaN stays NaN; inf saturates
        else if (over)
            y = {sign, 7'h7E};                                // satfinite: +-448
        else if (PLANTED_BUG == 2 && code < 13'd8)
            y = {sign, 7'h00};
        else if (PLANTED_BUG == 3 && code == 13'd0)
            y = 8'h00;
        else
            y = {sign, code[6:0]};
    end
endmodule

// Test bench: reads floatsim golden vectors with $readmemh and writes the converter's outputs.
//
//   floatsim vectors convert --src float32 --format e4m3 --overflow saturate --out vec --formats hex
//   iverilog -g2005 -P tb.N=<cases> -P tb.BUG=0 -o sim rtl/tb_f32_to_e4m3.v rtl/f32_to_e4m3.v
//   vvp sim +VECTORS=vec/<file>.hex +RESULTS=results.hex
//   floatsim check vec/<file>.hex results.hex
//
// A vectors line is 40 bits (the file's `// field:` lines): x = [39:8] (float32 bits),
// y = [7:0] (the expected E4M3 code).  Each results line is the device's y in hex.
`timescale 1ns / 1ps
module tb;
    parameter N = 1;     // number of cases (the file's `// cases:` line)
    parameter BUG = 0;   // f32_to_e4m3's PLANTED_BUG
    reg [39:0] vec [0:N-1];
    reg [8*4096-1:0] vfile, rfile;
    reg [31:0] x;
    wire [7:0] y;
    integer i, fd;

    f32_to_e4m3 #(.PLANTED_BUG(BUG)) dut (.x(x), .y(y));

    initial begin
        if (!$value$plusargs("VECTORS=%s", vfile) || !$value$plusargs("RESULTS=%s", rfile)) begin
            $display("usage: vvp sim +VECTORS=<vectors.hex> +RESULTS=<results.hex>");
            $finish;
        end
        $readmemh(vfile, vec);
        fd = $fopen(rfile, "w");
        $fdisplay(fd, "// f32_to_e4m3 (PLANTED_BUG=%0d): y of each case", BUG);
        for (i = 0; i < N; i = i + 1) begin
            x = vec[i][39:8];
            #1;
            $fdisplay(fd, "%h", y);
        end
        $fclose(fd);
        $finish;
    end
endmodule

// One separable pass of the CoC-weighted gather blur at blur resolution. A tap reaches only as far as its own
// circle of confusion and weighs by it, so sharp (person) pixels cannot bleed into the background: no halo.
// rgb = colour, a = person weight (carried through both passes).
#include "common.glsl"
uniform sampler2D u_src;      // blur_prep output, or the horizontal pass's output
uniform ivec2 u_size;         // blur resolution
uniform ivec2 u_axis;         // (1,0) horizontal, (0,1) vertical
uniform float u_cmax;         // max CoC, blur pixels
uniform int u_taps;           // K
out vec4 o;
void main() {
    ivec2 p = pixel();
    vec4 here = texelFetch(u_src, p, 0);
    if (u_cmax <= 0.0) { o = here; return; }
    vec4 acc = vec4(0.0);
    for (int k = -u_taps; k <= u_taps; k++) {
        vec4 s = texelFetch(u_src, clamp(p + k * u_axis, ivec2(0), u_size - 1), 0);
        float c = u_cmax * (1.0 - s.a);
        float w = clamp(c - float(abs(k)) + 1.0, 0.0, 1.0) * (COC_FLOOR + c / u_cmax);
        acc += vec4(s.rgb * w, w);
    }
    o = vec4(acc.rgb / acc.a, here.a);
}

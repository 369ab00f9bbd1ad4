// One separable pass of the CoC-weighted gather blur at blur resolution. A tap reaches only as far as its own
// circle of confusion and weighs by it, so sharp (person) pixels cannot bleed into the background: no halo.
#include "common.glsl"
uniform sampler2D u_src;      // colour at blur resolution
uniform sampler2D u_weight;   // person weight at refine resolution (bilinear)
uniform ivec2 u_size;         // blur resolution
uniform ivec2 u_axis;         // (1,0) horizontal, (0,1) vertical
uniform float u_cmax;         // max CoC, blur pixels
uniform int u_taps;           // K
out vec4 o;
float coc(ivec2 q) { return u_cmax * (1.0 - sample_at(u_weight, q, u_size).r); }
void main() {
    ivec2 p = pixel();
    if (u_cmax <= 0.0) { o = vec4(texelFetch(u_src, p, 0).rgb, 1.0); return; }
    vec4 acc = vec4(0.0);
    for (int k = -u_taps; k <= u_taps; k++) {
        ivec2 q = clamp(p + k * u_axis, ivec2(0), u_size - 1);
        float c = coc(q);
        float w = clamp(c - float(abs(k)) + 1.0, 0.0, 1.0) * (0.05 + c / u_cmax);
        acc += vec4(texelFetch(u_src, q, 0).rgb * w, w);
    }
    o = vec4(acc.rgb / acc.a, 1.0);
}

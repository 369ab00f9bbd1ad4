// Clean edges, step 2: the local person colour Fs (u_which 0) or background colour Bs (1), Gaussian means of
// the frame weighted by the confident inside wF = clamp(2 wi - 1)^2 or outside wB = clamp(1 - 2 wi)^2.
// First pass (along x): weighted colour and weight sums. Second pass (along y): their ratio.
#include "common.glsl"
uniform sampler2D u_src;      // first pass: the frame at this resolution; second: the first pass's output
uniform sampler2D u_wi;
uniform bool u_first;
uniform int u_which;
uniform ivec2 u_size;
uniform ivec2 u_axis;
uniform int u_radius;
uniform float u_kernel[129];
out vec4 o;
vec4 fetch(ivec2 q) {
    if (!u_first) return texelFetch(u_src, q, 0);
    float wi = texelFetch(u_wi, q, 0).r;
    float t = clamp(u_which == 0 ? 2.0 * wi - 1.0 : 1.0 - 2.0 * wi, 0.0, 1.0);
    float w = t * t;
    return vec4(texelFetch(u_src, q, 0).rgb * w, w);
}
void main() {
    ivec2 p = pixel();
    vec4 acc = vec4(0.0);
    for (int k = -u_radius; k <= u_radius; k++) {
        acc += u_kernel[k + u_radius] * fetch(clamp(p + k * u_axis, ivec2(0), u_size - 1));
    }
    if (u_first) { o = acc; return; }
    o = vec4(acc.rgb / max(acc.a, FG_EPS), 1.0);
}

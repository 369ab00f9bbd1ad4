// Separable joint bilateral refinement of the (smoothed) mask, guided by the frame: one pass along u_axis.
// The first pass (horizontal) reads the smoothed mask; the second (vertical) reads the first's output and
// applies coverage: a smoothstep from probability to blend weight.
#include "common.glsl"
uniform sampler2D u_mask;    // pass 1: smoothed mask at mask resolution (bilinear); pass 2: pass 1's output
uniform sampler2D u_guide;   // grid-sampled frame at refine resolution
uniform ivec2 u_size;        // refine resolution
uniform ivec2 u_axis;        // (1, 0) then (0, 1)
uniform bool u_refine;
uniform bool u_final;        // apply coverage
uniform int u_step;
uniform float u_sigma_space;
uniform float u_sigma_color;
uniform vec2 u_coverage;
out vec4 o;
void main() {
    ivec2 p = pixel();
    float m;
    if (!u_refine) {
        m = sample_at(u_mask, p, u_size).r;
    } else {
        vec3 g0 = texelFetch(u_guide, p, 0).rgb * 255.0;
        float ks = -1.0 / (2.0 * u_sigma_space * u_sigma_space);
        float kc = -1.0 / (2.0 * u_sigma_color * u_sigma_color) / (255.0 * 255.0);
        float num = 0.0, den = 0.0;
        for (int i = 0; i < TAPS; i++) {
            int d = (i - TAPS / 2) * u_step;
            ivec2 q = clamp(p + d * u_axis, ivec2(0), u_size - 1);
            vec3 dg = round(texelFetch(u_guide, q, 0).rgb * 255.0) - round(g0);
            float dd = dot(dg, dg);
            float w = exp(float(d * d) * ks) * (dd * -kc > BILATERAL_CUTOFF ? 0.0 : exp(dd * kc));
            num += w * sample_at(u_mask, q, u_size).r;
            den += w;
        }
        m = num / den;
    }
    o = vec4(u_final ? smoothstep_weight(u_coverage, m) : m, 0.0, 0.0, 1.0);
}

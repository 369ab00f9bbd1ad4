// Joint bilateral refinement of the (smoothed) mask, guided by the frame, then coverage -> blend weight.
#include "common.glsl"
uniform sampler2D u_mask;    // smoothed mask, mask resolution (bilinear)
uniform sampler2D u_guide;   // grid-sampled frame at refine resolution
uniform ivec2 u_size;        // refine resolution
uniform bool u_refine;
uniform int u_step;
uniform float u_sigma_space;
uniform float u_sigma_color;
uniform vec2 u_coverage;
#define TAPS 5
out vec4 o;
void main() {
    ivec2 p = pixel();
    float m;
    if (!u_refine) {
        m = sample_at(u_mask, p, u_size).r;
    } else {
        vec3 g0 = texelFetch(u_guide, p, 0).rgb;
        float ks = -1.0 / (2.0 * u_sigma_space * u_sigma_space);
        float kc = -1.0 / (2.0 * u_sigma_color * u_sigma_color);
        float num = 0.0, den = 0.0;
        for (int iy = 0; iy < TAPS; iy++) {
            for (int ix = 0; ix < TAPS; ix++) {
                ivec2 d = (ivec2(ix, iy) - TAPS / 2) * u_step;
                ivec2 q = clamp(p + d, ivec2(0), u_size - 1);
                vec3 dg = texelFetch(u_guide, q, 0).rgb - g0;
                float w = exp(float(d.x * d.x + d.y * d.y) * ks) * exp(dot(dg, dg) * kc);
                num += w * sample_at(u_mask, q, u_size).r;
                den += w;
            }
        }
        m = num / den;
    }
    o = vec4(smoothstep_weight(u_coverage, m), 0.0, 0.0, 1.0);
}

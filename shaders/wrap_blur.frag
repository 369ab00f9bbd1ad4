// Separable Gaussian for light wrapping: rgb = background light, a = how much background surrounds a pixel.
#include "common.glsl"
uniform sampler2D u_src;      // first pass: background at blur res; second pass: the first pass's output
uniform sampler2D u_weight;   // person weight (first pass only)
uniform bool u_first;
uniform ivec2 u_size;
uniform ivec2 u_axis;
uniform int u_radius;
uniform float u_kernel[129];
uniform float u_strength;   // second pass: e = weight * surrounding background * strength
out vec4 o;
vec4 fetch(ivec2 q) {
    if (u_first) return vec4(texelFetch(u_src, q, 0).rgb, 1.0 - sample_at(u_weight, q, u_size).r);
    return texelFetch(u_src, q, 0);
}
void main() {
    ivec2 p = pixel();
    vec4 acc = vec4(0.0);
    for (int k = -u_radius; k <= u_radius; k++) {
        acc += u_kernel[k + u_radius] * fetch(clamp(p + k * u_axis, ivec2(0), u_size - 1));
    }
    if (!u_first) acc.a *= sample_at(u_weight, p, u_size).r * u_strength;
    o = acc;
}
